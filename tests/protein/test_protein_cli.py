"""``symcl protein distances`` and ``symcl protein tree`` on the shipped data, and their error paths."""

import numpy as np
import pytest
from Bio import Phylo

from symcl.cli import main
from symcl.data import data_path
from symcl.domains import protein


def read_tsv(path):
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    ids = [line.split("\t")[0] for line in lines[1:]]
    values = np.array([[float(x) for x in line.split("\t")[1:]] for line in lines[1:]])
    return header, ids, values


@pytest.mark.parametrize("name", ["COX2_TM.fa", "globins45.aligned.fa"])
def test_distances_writes_a_square_tsv_in_input_order(tmp_path, name):
    source = data_path("protein", name)
    out = tmp_path / "d.tsv"
    assert main(["protein", "distances", str(source), "--method", "kimura", "-o", str(out), "--quiet"]) == 0
    header, ids, values = read_tsv(out)
    family = protein.read_sequences(source)
    assert header == ["id", *family.ids]
    assert ids == list(family.ids)
    assert values.shape == (len(family), len(family))
    np.testing.assert_array_equal(values, values.T)
    np.testing.assert_array_equal(np.diag(values), 0.0)
    expected = protein.distance_matrix(family, "kimura", return_saturated=True, progress=False)[0]
    np.testing.assert_allclose(values, expected, atol=1e-6)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_distances_in_parallel_with_realignment(tmp_path):
    out = tmp_path / "d.tsv"
    source = data_path("protein", "globins45.aligned.fa")
    argv = ["protein", "distances", str(source), "--realign", "--jobs", "2", "--method", "p", "-o", str(out)]
    assert main(argv) == 0
    _, ids, values = read_tsv(out)
    assert len(ids) == 45 and values.shape == (45, 45)
    assert ((values >= 0) & (values <= 1)).all()


def test_saturated_pairs_are_reported_on_stderr(tmp_path, capsys):
    out = tmp_path / "d.tsv"
    argv = ["protein", "distances", str(data_path("protein", "COX2_TM.aligned.fa")), "--method", "kimura"]
    assert main([*argv, "-o", str(out), "--quiet"]) == 0
    assert "symcl: warning: 2 of 55 pairs are saturated" in capsys.readouterr().err


def test_tree_writes_newick_with_every_record(tmp_path):
    out = tmp_path / "t.nwk"
    source = data_path("protein", "COX2_TM.fa")
    assert main(["protein", "tree", str(source), "--method", "scoredist", "-o", str(out), "--quiet"]) == 0
    tree = Phylo.read(out, "newick")
    assert sorted(leaf.name for leaf in tree.get_terminals()) == sorted(protein.read_sequences(source).ids)


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["protein", "distances", str(tmp_path / "nope.fa"), "-o", str(tmp_path / "d.tsv")]) == 2
    assert "nope.fa: no such file" in one_error_line(capsys)


def test_malformed_input_exits_2_naming_the_record(tmp_path, capsys):
    bad = tmp_path / "bad.fa"
    bad.write_text(">ok\nMKVLW\n>broken\nMK#VL\n")
    assert main(["protein", "tree", str(bad), "-o", str(tmp_path / "t.nwk")]) == 2
    line = one_error_line(capsys)
    assert "bad.fa" in line and "'broken'" in line and "'#' at position 3" in line
    assert not (tmp_path / "t.nwk").exists()


def test_dna_input_exits_2(tmp_path, capsys):
    dna = tmp_path / "dna.fa"
    dna.write_text(">contig\nACGTACGTTAGCNNACG\n")
    assert main(["protein", "distances", str(dna), "-o", str(tmp_path / "d.tsv")]) == 2
    assert "nucleotide" in one_error_line(capsys)


def test_unknown_method_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["protein", "distances", str(data_path("protein", "COX2_TM.fa")), "--method", "jc69", "-o", "x.tsv"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'jc69'" in capsys.readouterr().err


def test_bad_numbers_exit_2(tmp_path, capsys):
    source = str(data_path("protein", "COX2_TM.fa"))
    assert main(["protein", "distances", source, "--max-distance", "-1", "-o", str(tmp_path / "d.tsv")]) == 2
    assert "--max-distance" in one_error_line(capsys)
    with pytest.raises(SystemExit) as exit:  # refused while parsing, before the file is read
        main(["protein", "distances", source, "--gap-open", "3", "-o", str(tmp_path / "d.tsv")])
    assert exit.value.code == 2
    assert "argument --gap-open: must be a finite number <= 0 (a positive score rewards gaps), got 3" in one_error_line(
        capsys
    )


def test_tree_needs_three_sequences(tmp_path, capsys):
    two = tmp_path / "two.fa"
    two.write_text(">a\nMKVLW\n>b\nMKVLF\n")
    assert main(["protein", "tree", str(two), "-o", str(tmp_path / "t.nwk")]) == 2
    assert "at least 3 sequences" in one_error_line(capsys)
