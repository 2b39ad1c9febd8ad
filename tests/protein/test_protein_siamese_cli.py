"""``symcl protein train``, ``embed`` and ``tree --model``: a tiny end-to-end run and the error paths."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from Bio import Phylo
from safetensors.numpy import load_file

from symcl.cli import main
from symcl.data import data_path
from symcl.domains import protein

COX2 = str(data_path("protein", "COX2_TM.fa"))
TINY = [
    "--simulated", "3", "--simulated-sizes", "4", "8", "--simulated-lengths", "30", "50",
    "--dim", "8", "--channels", "8", "--blocks", "1", "--batch-size", "8", "--quiet",
    "--contrastive-weight", "0.1", "--near-distance", "0.5",
]  # fmt: skip


def train(out, *extra):
    return main(["protein", "train", COX2, "--out", str(out), *TINY, *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("protein_model")
    assert train(out, "--steps", "4", "--checkpoint-every", "2", "--eval-every", "2") == 0
    return out


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_train_writes_a_loadable_model(trained):
    for name in ("model.safetensors", "config.json", "history.json", "training_curves.png"):
        assert (trained / name).is_file()
    config = protein.read_model_config(trained)
    assert config["model"] == {
        "kind": "cnn",
        "dim": 8,
        "channels": 8,
        "kernel_size": 9,
        "blocks": 1,
        "block_kernel_size": 5,
        "segments": 16,
    }
    assert config["protein"]["method"] == "scoredist" and [s["path"] for s in config["protein"]["sources"]] == [
        str(Path(COX2).resolve())
    ]
    assert config["protein"]["anchors"] is None
    assert config["protein"]["objective"]["contrastive_weight"] == 0.1
    assert [name for name, _ in config["protein"]["pairs"]["families"]] == ["COX2_TM.fa", "sim0", "sim1", "sim2"]
    evaluations = json.loads((trained / "history.json").read_text())["evaluations"]
    assert [e["step"] for e in evaluations] == [2, 4] and {"spearman", "mae", "cap_recall"} <= set(evaluations[0])
    model = protein.load_model(trained)
    assert not model.training and model.dim == 8


def test_train_with_anchored_targets_records_them(tmp_path):
    assert train(tmp_path, "--steps", "2", "--anchors", "3", "--jobs", "1", "--checkpoint-every", "0") == 0
    assert protein.read_model_config(tmp_path)["protein"]["anchors"] == 3


def test_embed_writes_ids_and_embeddings(trained, tmp_path):
    out = tmp_path / "e.npz"
    assert main(["protein", "embed", COX2, "--model", str(trained), "-o", str(out), "--quiet"]) == 0
    with np.load(out) as saved:
        ids, embeddings = saved["ids"], saved["embeddings"]
    family = protein.read_sequences(COX2)
    assert ids.tolist() == list(family.ids)
    expected = protein.embed_sequences(protein.load_model(trained), family)
    np.testing.assert_allclose(embeddings, expected, rtol=1e-6, atol=1e-6)
    assert not list(tmp_path.glob(".*.tmp"))


def test_tree_from_the_model(trained, tmp_path):
    out = tmp_path / "t.nwk"
    assert main(["protein", "tree", COX2, "--model", str(trained), "-o", str(out), "--quiet"]) == 0
    tree = Phylo.read(out, "newick")
    family = protein.read_sequences(COX2)
    assert sorted(leaf.name for leaf in tree.get_terminals()) == sorted(family.ids)
    expected = protein.nj_tree(protein.predicted_distance_matrix(protein.load_model(trained), family), family.ids)
    assert protein.robinson_foulds(tree, expected) == 0.0


def test_the_training_files_are_recorded_by_path_size_and_sha256(trained):
    (source,) = json.loads((trained / "config.json").read_text())["protein"]["sources"]
    content = Path(COX2).read_bytes()
    assert source == {
        "path": str(Path(COX2).resolve()),
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def test_resume_accepts_a_training_file_spelled_otherwise(trained, tmp_path, monkeypatch):
    # a job resubmitted from another folder: the same file, another path; it continues bit-identically
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    step2 = sorted((trained / "checkpoints").iterdir())[0]
    shutil.copy(step2, tmp_path / "run" / "checkpoints" / step2.name)
    monkeypatch.chdir(Path(COX2).parent)
    code = main(
        ["protein", "train", "./" + Path(COX2).name, "--out", str(tmp_path / "run"), *TINY,
         "--steps", "4", "--checkpoint-every", "2", "--eval-every", "2", "--resume"]
    )  # fmt: skip
    assert code == 0
    resumed, uninterrupted = load_file(tmp_path / "run" / "model.safetensors"), load_file(trained / "model.safetensors")
    for key in uninterrupted:
        np.testing.assert_array_equal(resumed[key], uninterrupted[key])


def test_resume_refuses_a_training_file_whose_content_changed(trained, tmp_path, capsys):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    step2 = sorted((trained / "checkpoints").iterdir())[0]
    shutil.copy(step2, tmp_path / "run" / "checkpoints" / step2.name)
    changed = tmp_path / "COX2_TM.fa"
    changed.write_bytes(Path(COX2).read_bytes().replace(b"L", b"I", 1))  # one residue, same size
    code = main(["protein", "train", str(changed), "--out", str(tmp_path / "run"), *TINY, "--steps", "4", "--resume"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{changed}: training file 1 has changed (same size" in err


def test_resume_after_an_interruption_is_bit_identical(trained, tmp_path):
    # A run killed after its step-2 checkpoint: only that checkpoint is on disk.
    (tmp_path / "checkpoints").mkdir()
    step2 = sorted((trained / "checkpoints").iterdir())[0]
    shutil.copy(step2, tmp_path / "checkpoints" / step2.name)
    assert train(tmp_path, "--steps", "4", "--checkpoint-every", "2", "--eval-every", "2", "--resume") == 0
    resumed, uninterrupted = load_file(tmp_path / "model.safetensors"), load_file(trained / "model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    for key in resumed:
        np.testing.assert_array_equal(resumed[key], uninterrupted[key])


def test_embed_and_tree_default_to_the_shipped_model(tmp_path):
    family = protein.read_sequences(COX2)
    pretrained = protein.load_pretrained()
    out = tmp_path / "e.npz"
    assert main(["protein", "embed", COX2, "-o", str(out), "--quiet"]) == 0
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["embeddings"], protein.embed_sequences(pretrained, family), atol=1e-6)
    newick = tmp_path / "t.nwk"
    assert main(["protein", "tree", COX2, "--model", "-o", str(newick), "--quiet"]) == 0
    expected = protein.nj_tree(protein.predicted_distance_matrix(pretrained, family), family.ids)
    assert protein.robinson_foulds(Phylo.read(newick, "newick"), expected) == 0.0


def test_model_errors_exit_2(tmp_path, capsys):
    assert main(["protein", "tree", COX2, "--model", str(tmp_path / "none"), "-o", str(tmp_path / "t.nwk")]) == 2
    assert "not a model directory" in one_error_line(capsys)
    assert main(["protein", "embed", COX2, "--model", str(tmp_path), "-o", str(tmp_path / "e.npz")]) == 2
    assert "config.json: missing" in one_error_line(capsys)
    with pytest.raises(SystemExit) as exit_info:
        main(["protein", "tree", COX2, "--model", str(tmp_path), "--method", "p", "-o", str(tmp_path / "t.nwk")])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_train_errors_exit_2(tmp_path, capsys):
    assert main(["protein", "train", "--simulated", "0", "--out", str(tmp_path / "m")]) == 2
    assert "no training data" in one_error_line(capsys)
    assert main(["protein", "train", str(tmp_path / "nope.fa"), "--out", str(tmp_path / "m")]) == 2
    assert "nope.fa: no such file" in one_error_line(capsys)
    argv = ["protein", "train", COX2, "--out", str(tmp_path / "m"), "--simulated-sizes", "9", "3"]
    assert main(argv) == 2
    assert "--simulated-sizes" in one_error_line(capsys)
    assert main(["protein", "train", COX2, "--out", str(tmp_path / "m"), "--cross-family-fraction", "1.5"]) == 2
    assert "--cross-family-fraction" in one_error_line(capsys)
    assert main(["protein", "train", COX2, "--out", str(tmp_path / "m"), "--contrastive-weight", "-1"]) == 2
    assert "--contrastive-weight must be a finite number >= 0" in one_error_line(capsys)
    assert (
        main(["protein", "train", COX2, str(Path(COX2).parent / "." / Path(COX2).name), "--out", str(tmp_path / "m")])
        == 2
    )
    assert "given twice" in one_error_line(capsys)  # its sequences would be trained as cross-family, saturated pairs
    assert main(["protein", "train", COX2, "--out", str(tmp_path / "m"), "--kmer-sizes", "2"]) == 2
    assert "--kmer-sizes applies to --encoder kmer only; it would be ignored with --encoder cnn" in one_error_line(
        capsys
    )
    assert main(["protein", "train", COX2, "--out", str(tmp_path / "m"), "--encoder", "kmer", "--blocks", "1"]) == 2
    assert "--blocks applies to --encoder cnn only" in one_error_line(capsys)
    single = tmp_path / "one.fa"
    single.write_text(">a\nMKVLW\n")
    assert main(["protein", "train", str(single), "--out", str(tmp_path / "m")]) == 2
    assert "at least 2 sequences" in one_error_line(capsys)
    assert not (tmp_path / "m").exists()
