"""The view generator: the shared contract, the reverse-complement pair, fragments, errors, exclusion."""

import pickle

import numpy as np
import pytest
import torch
from dna_testing import random_dna

from symcl.domains import dna
from symcl.domains.dna.alphabet import CODE_PAD
from symcl.errors import UserInputError


@pytest.fixture
def records(rng):
    return [("a", random_dna(rng, 3000)), ("b", random_dna(rng, 800, "ACGTN")), ("c", random_dna(rng, 1200))]


def _unpad(row: torch.Tensor) -> np.ndarray:
    row = row.numpy()
    return row[row != CODE_PAD]


def _batch(views, seed=0, n=32):
    return views.sample(n, torch.Generator().manual_seed(seed))


# -- the contract every view generator passes --------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"fragment_lengths": (100, 400)},
        {"fragment_lengths": (50, 500), "substitution_rate": 0.05, "indel_rate": 0.05, "rc_probability": 0.5},
    ],
)
def test_contract(records, options):
    views = dna.DnaViews(records, window=500, **options)
    batch = _batch(views)
    assert batch.view1.shape == batch.view2.shape == (32, views.view_length)
    assert batch.view1.dtype == torch.uint8
    assert batch.exclude.shape == (32, 32) and batch.exclude.dtype == torch.bool
    assert batch.labels.shape == (32,) and batch.labels.dtype == torch.int64
    # padding only after each view, every view non-empty
    for view in (batch.view1, batch.view2):
        pad = view == CODE_PAD
        assert not (pad[:, :-1] & ~pad[:, 1:]).any()
        assert (~pad).sum(1).min() >= 1
    # same generator state -> same batch, whatever the global RNGs do
    torch.manual_seed(123)
    np.random.seed(123)
    again = _batch(views)
    for a, b in zip(
        (batch.view1, batch.view2, batch.exclude, batch.labels),
        (again.view1, again.view2, again.exclude, again.labels),
        strict=True,
    ):
        assert torch.equal(a, b)
    # another state -> other windows; the two views differ
    assert not torch.equal(_batch(views, seed=1).view1, batch.view1)
    assert not torch.equal(batch.view1, batch.view2)
    # pickles, and the copy draws the same batches
    copy = pickle.loads(pickle.dumps(views))
    assert torch.equal(_batch(copy).view2, batch.view2)


def test_whole_window_views_are_a_reverse_complement_pair(records):
    views = dna.DnaViews(records, window=400)
    batch = _batch(views)
    for v1, v2 in zip(batch.view1, batch.view2, strict=True):
        assert np.array_equal(dna.reverse_complement_codes(_unpad(v1)), _unpad(v2))
        assert len(_unpad(v1)) == 400


def test_fragments_are_pieces_of_the_records_on_either_strand(records):
    views = dna.DnaViews(records, window=500, fragment_lengths=(60, 300), rc_probability=0.5)
    batch = _batch(views, n=64)
    texts = {label: dna.to_codes(seq).tobytes() for label, (_, seq) in enumerate(records)}
    lengths, flipped = [], 0
    for v1, v2, label in zip(batch.view1, batch.view2, batch.labels.tolist(), strict=True):
        genome = texts[label]
        for view in (_unpad(v1), _unpad(v2)):
            lengths.append(view.size)
            forward = view.tobytes() in genome
            assert forward or dna.reverse_complement_codes(view).tobytes() in genome
        flipped += (_unpad(v1).tobytes() in genome) != (_unpad(v2).tobytes() in genome)
    assert 60 <= min(lengths) and max(lengths) <= 300 and len(set(lengths)) > 10
    assert 10 < flipped < 54  # about half of the pairs are on opposite strands


def test_sequencing_errors_happen_at_the_given_rates(rng):
    codes = dna.to_codes(random_dna(rng, 20_000))
    substituted = dna.sequencing_errors(codes, rng, substitution_rate=0.1)
    assert substituted.size == codes.size
    assert 0.08 < (substituted != codes).mean() < 0.12
    assert np.array_equal(dna.sequencing_errors(codes, rng), codes)
    indels = [dna.sequencing_errors(codes, rng, indel_rate=0.2).size - codes.size for _ in range(5)]
    assert any(d != 0 for d in indels)
    assert max(abs(d) for d in indels) < 0.05 * codes.size  # insertions balance deletions
    n_only = dna.to_codes("N" * 100)
    assert np.array_equal(dna.sequencing_errors(n_only, rng, substitution_rate=0.5), n_only)


def test_exclusion_mask_matches_brute_force(rng):
    record = rng.integers(0, 3, 40)
    start = rng.integers(0, 2000, 40)
    mask = dna.exclusion_mask(record, start, 300)
    for i in range(40):
        for j in range(40):
            expected = i != j and record[i] == record[j] and abs(start[i] - start[j]) < 300
            assert mask[i, j] == expected


def test_batches_exclude_close_windows_of_one_record(rng):
    # One short record: all windows overlap, so everything but the diagonal is excluded.
    views = dna.DnaViews([("x", random_dna(rng, 600))], window=500, exclusion_bp=200)
    batch = _batch(views, n=8)
    assert batch.exclude.sum() == 8 * 7
    assert not batch.exclude.diagonal().any()
    off = dna.DnaViews([("x", random_dna(rng, 600))], window=500, exclusion_bp=0)
    assert not _batch(off, n=8).exclude.any()


def test_labels_are_record_labels(records):
    views = dna.DnaViews(records, labels=[7, 7, 9], window=500)
    assert set(_batch(views, n=64).labels.tolist()) <= {7, 9}


def test_a_stream_or_a_mapping_of_records_gives_the_same_views(records):
    expected = _batch(dna.DnaViews(records, window=500))
    for given in ((record for record in records), dict(records)):  # read_records(path) is a stream
        views = dna.DnaViews(given, window=500)
        assert views.ids == ["a", "b", "c"]
        batch = _batch(views)
        assert torch.equal(batch.view1, expected.view1) and torch.equal(batch.view2, expected.view2)


def test_bad_input(records):
    with pytest.raises(UserInputError, match=r"Record 'b' is 800 bp long, shorter than the window of 1000 bp"):
        dna.DnaViews(records, window=1000)
    with pytest.raises(ValueError, match=r"'fragment_lengths' parameter of DnaViews must satisfy"):
        dna.DnaViews(records, window=500, fragment_lengths=(100, 600))
    with pytest.raises(ValueError, match=r"'indel_rate' parameter of DnaViews must be a number in \[0, 0.5\]"):
        dna.DnaViews(records, window=500, indel_rate=0.7)
    with pytest.raises(ValueError, match=r"'labels' parameter"):
        dna.DnaViews(records, labels=[0, 1], window=500)
    with pytest.raises(ValueError, match=r"'records' parameter"):
        dna.DnaViews([], window=500)
    with pytest.raises(ValueError, match=r"'records' parameter"):  # one sequence is no collection of records
        dna.DnaViews(records[0][1], window=500)
    with pytest.raises(UserInputError, match=r"'q'.*'!' at position 3"):
        dna.DnaViews([("q", "AC!T")], window=2)
