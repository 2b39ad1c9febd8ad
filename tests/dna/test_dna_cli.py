"""``symcl dna train`` and ``symcl dna embed`` end to end on the shipped data."""

import gzip
import hashlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from progress_recorder import bar_recorder
from safetensors.numpy import load_file

from symcl.cli import main
from symcl.domains import dna

TINY = ["--window", "400", "--fragment-lengths", "100", "400", "--kmer-sizes", "3", "4", "--channels", "4",
        "--hidden", "8", "--out-dim", "6", "--projection", "8", "--batch-size", "16"]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shipped):
    """A codon-phase encoder (the default) trained for 30 steps on the six shipped files."""
    out = tmp_path_factory.mktemp("dna_model")
    code = main(
        ["dna", "train", *map(str, shipped.values()), "--out", str(out), "--steps", "30", "--eval-every", "0",
         "--checkpoint-every", "10", "--quiet", *TINY]
    )  # fmt: skip
    assert code == 0
    return out


def test_train_writes_the_run_directory(trained, shipped):
    names = {p.name for p in trained.iterdir()}
    assert {"model.safetensors", "config.json", "history.json", "checkpoints"} <= names
    config = dna.read_model_config(trained)
    assert config["model"] == {"kind": "codon_phase", "kmer_sizes": [3, 4], "channels": 4, "hidden": 8, "out_dim": 6}
    assert config["dna"]["views"]["window"] == 400 and config["dna"]["projection"] == 8
    assert [s["path"] for s in config["dna"]["sources"]] == [str(p.resolve()) for p in shipped.values()]
    content = shipped["pPCP1.fa.gz"].read_bytes()
    assert config["dna"]["sources"][1] | {"path": None} == {
        "path": None,
        "bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert config["steps_done"] == 30


def _interrupted(trained, tmp_path):
    """A run directory holding only the oldest checkpoint of ``trained``: a run killed there."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    oldest = sorted((trained / "checkpoints").iterdir())[0]
    shutil.copy(oldest, run / "checkpoints" / oldest.name)
    return run


def test_resume_accepts_the_training_files_spelled_otherwise(trained, shipped, tmp_path, monkeypatch):
    # a job resubmitted from another folder: the same files, other paths; it continues bit-identically
    run = _interrupted(trained, tmp_path)
    monkeypatch.chdir(shipped["phiX174.fa.gz"].parent)
    code = main(
        ["dna", "train", *(f"./{name}" for name in shipped), "--out", str(run), "--steps", "30", "--eval-every", "0",
         "--checkpoint-every", "10", "--quiet", "--resume", *TINY]
    )  # fmt: skip
    assert code == 0
    resumed, uninterrupted = load_file(run / "model.safetensors"), load_file(trained / "model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    for key in resumed:
        np.testing.assert_array_equal(resumed[key], uninterrupted[key])


def test_resume_refuses_a_training_file_whose_content_changed(trained, shipped, tmp_path, capsys):
    run = _interrupted(trained, tmp_path)
    inputs = [tmp_path / name for name in shipped]
    for source, copy in zip(shipped.values(), inputs, strict=True):
        shutil.copy(source, copy)
    shutil.copy(shipped["human_mito.fa.gz"], inputs[1])  # other data under the name of pPCP1
    code = main(
        ["dna", "train", *map(str, inputs), "--out", str(run), "--steps", "30", "--eval-every", "0", "--quiet",
         "--resume", *TINY]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    sizes = [p.stat().st_size for p in (shipped["pPCP1.fa.gz"], shipped["human_mito.fa.gz"])]
    assert f"{inputs[1]}: training file 2 has changed ({sizes[0]} -> {sizes[1]} bytes)" in err
    assert not (run / "model.safetensors").exists()


def test_embed_writes_ids_in_order_and_equal_embeddings_for_both_strands(trained, shipped, tmp_path, capsys):
    records = [
        r for name in ("phiX174.fa.gz", "human_mito.fa.gz", "pPCP1.fa.gz") for r in dna.read_records(shipped[name])
    ]
    both = tmp_path / "both.fa.gz"
    with gzip.open(both, "wt") as handle:
        for r in records:
            handle.write(f">{r.id}\n{dna.decode(r.seq)}\n>{r.id}_rc\n{dna.reverse_complement(dna.decode(r.seq))}\n")
    out = tmp_path / "emb.npz"
    assert main(["dna", "embed", str(both), "--model", str(trained), "-o", str(out), "--per-window", "--quiet"]) == 0
    assert "embedded 6 records" in capsys.readouterr().err
    with np.load(out, allow_pickle=False) as saved:
        ids, z = saved["ids"].tolist(), saved["embeddings"]
        assert ids == [
            "NC_001422.1",
            "NC_001422.1_rc",
            "NC_001807.4",
            "NC_001807.4_rc",
            "NC_005816.1",
            "NC_005816.1_rc",
        ]
        assert z.shape == (6, 6) and np.isfinite(z).all()
        assert np.abs(z[0::2] - z[1::2]).max() <= 1e-5
        assert np.abs(z[0] - z[2]).max() > 1e-4
        assert saved["lengths"].tolist() == [5386, 5386, 16571, 16571, 9609, 9609]
        starts, ends, owner = saved["window_start"], saved["window_end"], saved["window_record"]
        assert ((ends - starts) == 400).all() and owner.max() == 5
        assert saved["window_embeddings"].shape == (len(starts), 6)


def test_embed_reports_skipped_short_records(trained, tmp_path, capsys):
    path = tmp_path / "mix.fa"
    path.write_text(">a\n" + "ACGT" * 100 + "\n>tiny\nACGTACGT\n")
    out = tmp_path / "mix.npz"
    assert (
        main(["dna", "embed", str(path), "--model", str(trained), "-o", str(out), "--min-length", "50", "--quiet"]) == 0
    )
    assert "skipped 1 record(s) shorter than the minimum length of 50 bp: tiny (8 bp)" in capsys.readouterr().err
    with np.load(out) as saved:
        assert saved["ids"].tolist() == ["a"]
    code = main(["dna", "embed", str(path), "--model", str(trained), "-o", str(out), "--min-length", "1000", "--quiet"])
    assert code == 2
    assert "mix.fa: no record is at least --min-length 1000 bp long (2 shorter)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def contigs(tmp_path_factory, shipped):
    """2-5 kb contigs cut from the three bacterial slices, on random strands, and their genome."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("contigs") / "contigs.fa.gz"
    truth = {}
    with gzip.open(path, "wt") as handle:
        for genome in ("ecoli_K12_MG1655_slice.fa.gz", "saureus_N315_slice.fa.gz", "rdenitrificans_OCh114_slice.fa.gz"):
            (record,) = dna.read_records(shipped[genome])
            start, i = 0, 0
            while start < record.seq.size - 2000:
                length = int(rng.integers(2000, 5000))
                piece = dna.decode(record.seq[start : start + length])
                piece = dna.reverse_complement(piece) if rng.random() < 0.5 else piece
                handle.write(f">{genome[:6]}_{i}\n{piece}\n")
                truth[f"{genome[:6]}_{i}"] = genome
                start, i = start + length, i + 1
        handle.write(">short\nACGTACGT\n")
    return path, truth


def test_bin_with_tnf_separates_three_genomes(contigs, tmp_path, capsys):
    path, truth = contigs
    out = tmp_path / "bins.tsv"
    assert main(["dna", "bin", str(path), "--bins", "3", "--features", "tnf", "-o", str(out)]) == 0
    assert "skipped 1 record(s) shorter than the minimum length of 1000 bp: short (8 bp)" in capsys.readouterr().err
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0] == ["contig", "bin"]
    assert [r[0] for r in rows[1:]] == list(truth)
    bins_of = {}
    for contig, bin_id in rows[1:]:
        bins_of.setdefault(truth[contig], set()).add(bin_id)
    assert all(len(b) == 1 for b in bins_of.values()) and len(set.union(*bins_of.values())) == 3
    # Without --bins (the 'symcl dna bin FASTA -o bins.tsv'), the silhouette picks the number.
    assert main(["dna", "bin", str(path), "--features", "tnf", "-o", str(out)]) == 0
    assert "(chosen by silhouette)" in capsys.readouterr().err
    chosen = [line.split("\t") for line in out.read_text().splitlines()[1:]]
    assert [r[0] for r in chosen] == list(truth) and len({r[1] for r in chosen}) >= 2


def test_bin_with_tnf_skips_and_names_a_contig_without_a_tetranucleotide(contigs, tmp_path, capsys):
    path, truth = contigs
    with_gaps = tmp_path / "gaps.fa.gz"
    with gzip.open(path, "rt") as source, gzip.open(with_gaps, "wt") as handle:
        handle.write(source.read() + ">allN\n" + "N" * 2000 + "\n>specks\n" + "ACGN" * 500 + "\n")
    out = tmp_path / "bins.tsv"
    assert main(["dna", "bin", str(with_gaps), "--bins", "3", "--features", "tnf", "-o", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert (  # as the embedding route words it; with a pseudocount TNF would give them a made-up bin
        "gaps.fa.gz: skipped 2 record(s) with no 4 A/C/G/T/U in a row (the k-mer of TNF), in which TNF sees "
        "nothing: allN, specks\n"
    ) in err
    assert [line.split("\t")[0] for line in out.read_text().splitlines()[1:]] == list(truth)
    assert f"binned {len(truth)} contigs into 3 bins" in err


def test_bin_reports_every_silhouette_and_warns_of_a_close_runner_up(contigs, tmp_path, capsys, monkeypatch):
    from symcl.domains.dna import binning

    path, _ = contigs
    out = tmp_path / "bins.tsv"
    monkeypatch.setattr(binning, "SILHOUETTE_MARGIN", 0.0)
    assert main(["dna", "bin", str(path), "--features", "tnf", "-o", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"silhouette score by number of bins: k=2 -?0\.\d{3}, k=3 -?0\.\d{3}(, k=\d+ -?0\.\d{3})*\n", err)
    assert "uncertain" not in err
    monkeypatch.setattr(binning, "SILHOUETTE_MARGIN", 2.0)  # silhouettes lie in [-1, 1]: every k is close
    assert main(["dna", "bin", str(path), "--features", "tnf", "-o", str(out), "--quiet"]) == 0
    found = re.search(r"binned \d+ contigs into (\d+) bins", err := capsys.readouterr().err).group(1)
    assert re.search(
        rf"symcl: warning: the silhouette of (\d+) bins \(-?0\.\d{{3}}\) is within 2\.0 of the chosen {found} "
        r"\(-?0\.\d{3}\), so the number of bins is uncertain; compare with --bins \1, or give the number you expect",
        err,
    )


def test_bin_clusters_tnf_as_standardised_log_ratios(contigs, tmp_path, monkeypatch):
    from symcl.domains.dna import binning

    seen = []
    real = binning.bin_contigs
    monkeypatch.setattr(
        binning, "bin_contigs", lambda features, *a, **kw: seen.append(features) or real(features, *a, **kw)
    )
    path, _ = contigs
    assert main(["dna", "bin", str(path), "--features", "tnf", "--bins", "3", "-o", str(tmp_path / "b.tsv")]) == 0
    np.testing.assert_allclose(seen[0].mean(axis=0), 0, atol=1e-9)  # not raw frequencies, dominated by GC
    np.testing.assert_allclose(seen[0].std(axis=0), 1)


def test_bin_with_a_model_and_its_errors(contigs, trained, tmp_path, capsys):
    path, truth = contigs
    out = tmp_path / "bins.tsv"
    assert main(["dna", "bin", str(path), "--bins", "3", "--model", str(trained), "-o", str(out), "--quiet"]) == 0
    assert len(out.read_text().splitlines()) == len(truth) + 1
    assert main(["dna", "bin", str(path), "--bins", "300", "--features", "tnf", "-o", str(out)]) == 2
    assert "fewer than --bins 300" in capsys.readouterr().err
    assert (
        main(["dna", "bin", str(path), "--bins", "3", "--features", "tnf", "--model", str(trained), "-o", str(out)])
        == 2
    )
    assert "TNF features need no model; drop --model or --features tnf" in capsys.readouterr().err


def _symcl(*args):
    return subprocess.run([sys.executable, "-m", "symcl.cli", *args], capture_output=True, text=True)


def test_running_out_of_memory_is_one_line(shipped, tmp_path):
    result = _symcl(
        "dna", "train", str(shipped["phiX174.fa.gz"]), "--out", str(tmp_path / "run"), "--window", "300",
        "--batch-size", "99999999999", "--steps", "1", "--quiet",
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr.startswith("symcl: error: out of memory (Unable to allocate") and "--batch-size" in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_user_errors_are_one_line_and_exit_2(shipped, tmp_path):
    missing_model = _symcl(
        "dna", "embed", str(shipped["phiX174.fa.gz"]), "--model", str(tmp_path / "nope"), "-o", str(tmp_path / "x.npz")
    )
    assert missing_model.returncode == 2
    assert (
        missing_model.stderr.strip() == f"symcl: error: {tmp_path / 'nope'}: not a model directory (no such directory)"
    )
    bad = tmp_path / "bad.fa"
    bad.write_text(">ctg1\nACGTNNQACGT\n")
    result = _symcl(
        "dna", "train", str(bad), "--out", str(tmp_path / "run"), "--window", "5", "--fragment-lengths", "3", "5"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"symcl: error: {bad}: Record 'ctg1' has an invalid character 'Q' at position 7; allowed are the IUPAC "
        "nucleotide codes ACGTURYKMBVDHSWN in either case."
    ]
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "{phix}", "{phix}", "--out", "{out}"], "{phix}: given twice (also as {phix})"),
        (["train", "{phix}", "--out", "{out}", "--temperature", "inf"], "--temperature"),
        (
            ["train", "{phix}", "--out", "{out}", "--temperature", "1e-30"],
            "--temperature: must be a number in [0.0001, 100]",
        ),
        (["embed", "{phix}", "-o", "{out}.npz", "--window", "2"], "--window 2: must be at least the model's shortest"),
        (["bin", "{phix}", "-o", "{out}.tsv", "--method", "agglomerative"], "--method agglomerative needs a number"),
        (
            ["train", "{phix}", "--out", "{out}", "--encoder", "plain", "--kmer-sizes", "4"],
            "--kmer-sizes applies to --encoder codon_phase or kmer only; it would be ignored with --encoder plain",
        ),
        (["train", "{phix}", "--out", "{out}", "--dim", "32"], "--dim applies to --encoder strand_invariant or plain"),
        (["train", "{phix}", "--out", "{out}", "--window", "2"], "must be at least the shortest k-mer (3 bp)"),
    ],
    ids=[
        "same file twice",
        "infinite temperature",
        "temperature whose gradients overflow",
        "window below the shortest k-mer",
        "agglomerative without bins",
        "k-mer option with a CNN",
        "CNN option with the k-mer encoder",
        "window without a k-mer",
    ],
)
def test_more_user_errors_are_one_line_and_exit_2(shipped, tmp_path, args, message):
    names = {"phix": str(shipped["phiX174.fa.gz"]), "out": str(tmp_path / "out")}
    result = _symcl("dna", *(arg.format(**names) for arg in args), "--quiet")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message.format(**names) in result.stderr


@pytest.mark.slow
def test_genomes_may_reuse_record_ids(tmp_path):
    rng = np.random.default_rng(3)
    for name in ("genome_a.fa", "genome_b.fa"):  # assemblers name contigs contig_1, contig_2 in every genome
        (tmp_path / name).write_text(
            "".join(f">contig_{i}\n{''.join(rng.choice(list('ACGT'), 3000))}\n" for i in (1, 2))
        )
    result = _symcl(
        "dna", "train", str(tmp_path / "genome_a.fa"), str(tmp_path / "genome_b.fa"), "--out", str(tmp_path / "run"),
        "--steps", "2", "--batch-size", "8", "--window", "1000", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_train_without_long_enough_records_is_a_user_error(shipped, tmp_path, capsys):
    code = main(
        ["dna", "train", str(shipped["phiX174.fa.gz"]), "--out", str(tmp_path / "r"), "--window", "6000", "--quiet"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "skipped 1 record(s) shorter than the minimum length of 6000 bp" in err
    assert "no record of at least --window 6000 bp" in err


def test_embed_without_model_uses_the_shipped_pretrained_model(shipped, tmp_path):
    records = list(dna.read_records(shipped["phiX174.fa.gz"])) + list(dna.read_records(shipped["pPCP1.fa.gz"]))
    both = tmp_path / "both.fa"
    both.write_text(
        "".join(
            f">{r.id}\n{dna.decode(r.seq)}\n>{r.id}_rc\n{dna.reverse_complement(dna.decode(r.seq))}\n" for r in records
        )
    )
    out = tmp_path / "emb.npz"
    result = _symcl("dna", "embed", str(both), "-o", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    pretrained = dna.load_pretrained()
    with np.load(out, allow_pickle=False) as saved:
        z = saved["embeddings"]
        assert saved["ids"].tolist() == ["NC_001422.1", "NC_001422.1_rc", "NC_005816.1", "NC_005816.1_rc"]
    assert z.shape == (4, pretrained.dim)
    assert np.abs(z[0::2] - z[1::2]).max() <= 1e-5
    assert np.abs(z[0] - z[2]).max() > 1e-3


def test_embed_skips_and_names_records_without_a_base(trained, tmp_path, capsys):
    path = tmp_path / "gaps.fa"
    path.write_text(">a\n" + "ACGT" * 100 + "\n>gap\n" + "N" * 400 + "\n>rna\n" + "ACGU" * 100 + "\n>short\nAC\n")
    out = tmp_path / "gaps.npz"
    assert main(["dna", "embed", str(path), "--model", str(trained), "-o", str(out), "--quiet"]) == 0
    assert (  # the codon-phase model reads 3- to 5-mers: 2 bases give it nothing either
        "gaps.fa: skipped 2 record(s) with no 3 A/C/G/T/U in a row (the model's shortest k-mer), in which the model "
        "sees nothing: gap, short\n"
    ) in (capsys.readouterr().err)
    with np.load(out, allow_pickle=False) as saved:
        assert saved["ids"].tolist() == ["a", "rna"]  # not a made-up embedding for the others
    path.write_text(">gap\n" + "N" * 400 + "\n>short\nAC\n")
    assert main(["dna", "embed", str(path), "--model", str(trained), "-o", str(out), "--quiet"]) == 2
    assert "gaps.fa: every record has no 3 A/C/G/T/U in a row" in capsys.readouterr().err


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ACGTNn-", max_size=40), k=st.integers(1, 6), chunk=st.integers(1, 9))
def test_the_kmer_check_scans_in_chunks_and_finds_runs_across_their_borders(text, k, chunk):
    from symcl.domains.dna.cli import _has_run

    expected = any(len(run) >= k for run in text.replace("n", "N").replace("-", "N").split("N"))
    # chunked so that a 200-Mbp record costs no extra copies of itself
    assert _has_run(np.frombuffer(text.encode(), dtype=np.uint8), k, chunk=chunk) == expected


def test_bin_streams_the_contigs_into_the_embedding(contigs, trained, tmp_path, monkeypatch):
    from symcl.domains.dna import embedding

    seen = []

    def embed_sequences(model, seqs, **options):
        seen.append(isinstance(seqs, list | tuple))  # a list holds every contig in memory (1.2 GB at 200k)
        return original(model, seqs, **options)

    original = embedding.embed_sequences
    monkeypatch.setattr(embedding, "embed_sequences", embed_sequences)
    out = tmp_path / "bins.tsv"
    assert main(["dna", "bin", str(contigs[0]), "--bins", "3", "--model", str(trained), "-o", str(out), "--quiet"]) == 0
    assert seen == [False]
    assert [line.split("\t")[0] for line in out.read_text().splitlines()[1:]] == list(contigs[1])


def test_embed_shows_one_bar_with_the_file_size_as_its_total(trained, shipped, tmp_path, monkeypatch):
    Recorder, bars = bar_recorder()
    monkeypatch.setattr("symcl.domains.dna.cli.tqdm", Recorder)
    monkeypatch.setattr("symcl.domains.dna.embedding.tqdm", Recorder)
    path = shipped["human_mito.fa.gz"]
    assert main(["dna", "embed", str(path), "--model", str(trained), "-o", str(tmp_path / "e.npz")]) == 0
    shown = [(bar.total, bar.n) for bar in bars if not bar.disable]
    assert shown == [(path.stat().st_size, path.stat().st_size)]  # not "8.70Mbp [00:01...]" without an end


def test_bin_says_it_is_choosing_the_number_of_bins_unless_quiet(contigs, tmp_path, capsys):
    path, truth = contigs
    out = tmp_path / "bins.tsv"
    n = len(truth)  # k goes up to 20 or n - 1
    note = f"choosing the number of bins: k-means for k = 2-{min(20, n - 1)} on {n} contigs, scored by silhouette"
    assert main(["dna", "bin", str(path), "--features", "tnf", "-o", str(out)]) == 0
    assert note in capsys.readouterr().err  # before minutes without a bar at 50k contigs
    assert main(["dna", "bin", str(path), "--features", "tnf", "-o", str(out), "--quiet"]) == 0
    assert note not in capsys.readouterr().err
    assert main(["dna", "bin", str(path), "--features", "tnf", "--bins", "3", "-o", str(out)]) == 0
    assert "choosing the number of bins" not in capsys.readouterr().err
