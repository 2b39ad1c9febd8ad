"""write_tsv formats a row per call, with exactly the bytes of per-value formatting, and shows a bar."""

import numpy as np
import pytest
from progress_recorder import bar_recorder

from symcl.cli import main
from symcl.data import data_path
from symcl.domains.protein import cli


def per_value_tsv(ids, distances):
    """The earlier write_tsv's text: each value through f"{value:.6f}"."""
    lines = ["\t".join(["id", *ids])]
    lines += ["\t".join([rid, *(f"{value:.6f}" for value in row)]) for rid, row in zip(ids, distances, strict=True)]
    return "\n".join(lines) + "\n"


def test_write_tsv_gives_the_bytes_of_per_value_formatting(tmp_path):
    rng = np.random.default_rng(0)
    distances = rng.random((300, 300)) * 3
    # Rounding ties, tiny, huge, signed zero and undefined values.
    distances[0, :8] = [0.0078125, 2.5e-7, -2.5e-7, -0.0, 1e12, np.nan, np.inf, 0.1234565]
    ids = [f"s{i}%d" for i in range(300)]  # a % in an id is text, not a format
    for matrix in (distances, distances.astype(np.float32)):
        cli.write_tsv(tmp_path / "d.tsv", ids, matrix)
        assert (tmp_path / "d.tsv").read_text() == per_value_tsv(ids, matrix)


def test_write_tsv_progress_follows_quiet(monkeypatch, tmp_path):
    Recorder, bars = bar_recorder()
    monkeypatch.setattr(cli, "ProgressBar", Recorder)
    source, out = str(data_path("protein", "globins45.fa")), str(tmp_path / "d.tsv")
    for quiet in (False, True):
        assert main(["protein", "distances", source, "--method", "spectrum", "-o", out, *(["--quiet"] * quiet)]) == 0
        assert bars[-1].total == bars[-1].n == 45 and bars[-1].disable is quiet


def test_write_tsv_refuses_a_matrix_that_is_not_one_row_and_column_per_id(tmp_path):
    with pytest.raises(ValueError, match=r"one row per id \(3\). Got shape \(3, 2\) instead"):
        cli.write_tsv(tmp_path / "d.tsv", ["a", "b", "c"], np.zeros((3, 2)))
    assert not (tmp_path / "d.tsv").exists()
