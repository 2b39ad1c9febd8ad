"""Distances that rest on a handful of columns (a 3-residue fragment in a family) are reported, and kept."""

import warnings

import numpy as np
import pytest

from symcl.cli import main
from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein.distance import short_pairs_message

TINY = "MKV"
#: The line of a short pair, as ``symcl protein distances`` prints it: the rule, the count, the name, the value.
SHORT_PAIRS = r"8 of 36 pairs are compared over fewer than 20 columns .*: tiny \(8 pairs, as few as 3 columns\)"


def _globins_with_a_fragment() -> protein.ProteinSequences:
    """The reviewer's family: the first 8 globins, ungapped, and ``tiny``, 3 residues."""
    globins = protein.read_sequences(data_path("protein", "globins45.aligned.fa"))
    ids = (*globins.ids[:8], "tiny")
    return protein.ProteinSequences(ids, (*(row.replace("-", "") for row in globins.sequences[:8]), TINY))


def _short_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, protein.ShortSequenceWarning)]


def _no_short_warning(compute):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        compute()
    assert _short_warnings(record) == []


def test_a_fragment_is_named_with_the_rule_and_its_columns_on_the_pairwise_route():
    family = _globins_with_a_fragment()
    with pytest.warns(protein.ShortSequenceWarning, match=SHORT_PAIRS):
        d = protein.distance_matrix(family, n_jobs=1, progress=False, return_saturated=True)[0]
    # The values are kept, for neighbour-joining: no NaN, and the same as without the check.
    silent = protein.distance_matrix(family, n_jobs=1, progress=False, min_columns=0, return_saturated=True)[0]
    np.testing.assert_array_equal(d, silent)


def test_a_fragment_row_of_an_alignment_is_named():
    rows = list(protein.read_sequences(data_path("protein", "globins45.aligned.fa")).sequences[:8])
    fragment = "-" * 10 + TINY + "-" * (len(rows[0]) - 13)
    family = protein.ProteinSequences(tuple(f"g{i}" for i in range(8)) + ("tiny",), (*rows, fragment), aligned=True)
    with pytest.warns(protein.ShortSequenceWarning, match=r"fewer than 20 columns.*: tiny \(8 pairs, as few as"):
        protein.distance_matrix(family, progress=False, return_saturated=True)


def test_a_fragment_is_named_on_the_anchored_route():
    family = _globins_with_a_fragment()
    with pytest.warns(protein.ShortSequenceWarning, match=r"8 of 36 pairs .* fewer than 20 columns.*: tiny \(8 pairs"):
        protein.distance_matrix(family, anchors=3, n_jobs=1, progress=False)


def test_one_short_pair_is_named_by_one_of_its_sequences_with_its_columns():
    columns = np.full((4, 4), 100.0)
    columns[0, 2] = columns[2, 0] = 12.0
    message = short_pairs_message(columns, ["a", "b", "c", "d"], 20)
    assert message.startswith("1 of 6 pairs are compared over fewer than 20 columns")
    assert message.endswith(": a (1 pair, as few as 12 columns)")
    assert short_pairs_message(columns, ["a", "b", "c", "d"], 12) is None


def test_two_fragments_are_both_named_and_their_partners_are_not():
    columns = np.full((6, 6), 100.0)
    columns[[0, 3], :] = columns[:, [0, 3]] = 5.0
    message = short_pairs_message(columns, list("abcdef"), 20)
    assert message.startswith("9 of 15 pairs")
    assert message.endswith(": a (5 pairs, as few as 5 columns), d (5 pairs, as few as 5 columns)")


def test_pseudo_distance_reports_its_columns():
    myoglobin = _globins_with_a_fragment()[1]
    with pytest.warns(protein.ShortSequenceWarning, match=r"compared over 3 columns, fewer than min_columns=20"):
        protein.pseudo_distance(TINY, myoglobin, return_saturated=True)


@pytest.mark.parametrize(
    "route, what",
    [
        (lambda family, **kw: protein.spectrum_distances(family, **kw), "k-mer spectrum"),
        (lambda family, **kw: protein.predicted_distance_matrix(protein.load_pretrained(), family, **kw), "embedding"),
    ],
    ids=["spectrum", "model"],
)
def test_the_alignment_free_routes_name_a_short_sequence(route, what):
    family = _globins_with_a_fragment()
    expected = rf"1 of 9 sequences are shorter than 20 residues .* meaningful {what}.*: tiny \(3 residues\)"
    with pytest.warns(protein.ShortSequenceWarning, match=expected):
        d = route(family)
    np.testing.assert_array_equal(d, route(family, min_length=0))
    _no_short_warning(lambda: route(family, min_length=3))


def test_the_shipped_families_raise_no_short_warning():
    globins = protein.read_sequences(data_path("protein", "globins45.aligned.fa"))
    unaligned = protein.read_sequences(data_path("protein", "COX2_TM.fa"))
    _no_short_warning(lambda: protein.distance_matrix(globins, progress=False))
    _no_short_warning(lambda: protein.distance_matrix(unaligned, n_jobs=1, progress=False))
    _no_short_warning(lambda: protein.distance_matrix(globins, aligned=False, anchors=3, n_jobs=1, progress=False))
    _no_short_warning(lambda: protein.spectrum_distances(globins))


@pytest.mark.parametrize("value", [-1, 2.5, "20", None])
def test_min_columns_must_be_an_integer_at_least_0(value):
    with pytest.raises(ValueError, match="'min_columns' parameter of distance_matrix must be an integer >= 0"):
        protein.distance_matrix(["MKV", "MKL"], min_columns=value)


def _write_reviewer_file(tmp_path):
    family = _globins_with_a_fragment()
    path = tmp_path / "weird.fa"
    path.write_text("".join(f">{rid}\n{seq}\n" for rid, seq in zip(family.ids, family.sequences, strict=True)))
    return path


def test_the_command_line_prints_one_line_naming_the_fragment(tmp_path, capsys):
    source, out = _write_reviewer_file(tmp_path), tmp_path / "d.tsv"
    assert main(["protein", "distances", str(source), "--jobs", "1", "-o", str(out), "--quiet"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "columns" in line]
    assert len(lines) == 1
    assert lines[0].startswith("symcl: warning: 8 of 36 pairs are compared over fewer than 20 columns")
    assert lines[0].endswith(": tiny (8 pairs, as few as 3 columns)")


@pytest.mark.parametrize("argv", [["--min-columns", "3"], ["--min-columns", "0"]])
def test_min_columns_on_the_command_line_moves_the_rule(tmp_path, capsys, argv):
    source, out = _write_reviewer_file(tmp_path), tmp_path / "d.tsv"
    assert main(["protein", "distances", str(source), "--jobs", "1", *argv, "-o", str(out), "--quiet"]) == 0
    assert "columns" not in capsys.readouterr().err


def test_the_spectrum_route_on_the_command_line_names_the_short_sequence(tmp_path, capsys):
    source, out = _write_reviewer_file(tmp_path), tmp_path / "d.tsv"
    assert main(["protein", "distances", str(source), "--method", "spectrum", "-o", str(out), "--quiet"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "residues" in line]
    assert lines == [
        "symcl: warning: 1 of 9 sequences are shorter than 20 residues (min_length; --min-columns on the command "
        "line), too short for a meaningful k-mer spectrum; their distances are kept, treat them as noise or drop "
        "them: tiny (3 residues)"
    ]
