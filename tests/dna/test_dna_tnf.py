"""Canonical k-mer frequencies (TNF) against a slow reference; exact strand invariance."""

import itertools

import numpy as np
import pytest
from dna_testing import random_dna
from hypothesis import given, settings
from hypothesis import strategies as st

from symcl.domains import dna
from symcl.errors import UserInputError


def naive_canonical_frequencies(seq: str, k: int) -> np.ndarray:
    """Count every k-mer window of ACGT letters by hand, merged with its reverse complement."""
    seq = seq.upper().replace("U", "T")
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    canonical = sorted({min(kmer, dna.reverse_complement(kmer)) for kmer in kmers})
    counts = dict.fromkeys(canonical, 0)
    for i in range(len(seq) - k + 1):
        word = seq[i : i + k]
        if set(word) <= set("ACGT"):
            counts[min(word, dna.reverse_complement(word))] += 1
    values = np.array([counts[c] for c in canonical], dtype=float)
    return values / values.sum()


def test_136_canonical_tetramers():
    index, names = dna.canonical_kmers(4)
    assert len(names) == 136 and index.shape == (256,)
    assert names[0] == "AAAA" and "ACGT" in names and "TTTT" not in names
    for k in range(1, 7):
        n = len(dna.canonical_kmers(k)[1])
        assert n == (4**k + (4 ** (k // 2) if k % 2 == 0 else 0)) // 2


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_matches_the_naive_reference_on_random_sequences(rng, k):
    seqs = [random_dna(rng, n, "ACGTACGTACGTN") for n in (k, 50, 333, 1000)]
    seqs = [s if any(set(s[i : i + k]) <= set("ACGT") for i in range(len(s) - k + 1)) else "A" * k for s in seqs]
    got = dna.kmer_frequencies(seqs, k)
    expected = np.stack([naive_canonical_frequencies(s, k) for s in seqs])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_tnf_is_exactly_strand_invariant_on_real_data(shipped):
    records = [r for path in shipped.values() for r in dna.read_records(path)]
    forward = dna.tnf(records)
    reverse = dna.tnf([dna.reverse_complement(r.seq) for r in records])
    assert forward.shape == (6, 136)
    assert np.array_equal(forward, reverse)
    np.testing.assert_allclose(forward.sum(axis=1), 1.0, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="ACGTNRYacgtn", min_size=20, max_size=400))
def test_tnf_of_reverse_complement_is_equal(seq):
    try:
        forward = dna.tnf(seq)
    except UserInputError:
        return  # no clean tetramer; checked separately
    assert np.abs(forward - dna.tnf(dna.reverse_complement(seq))).max() <= 1e-12


def test_case_and_input_types_do_not_matter(rng):
    seq = random_dna(rng, 500)
    reference = dna.tnf(seq)
    for variant in (seq.lower(), seq.encode(), dna.encode(seq), [seq], [("id", seq)]):
        assert np.array_equal(dna.tnf(variant), reference)


def test_windows_with_ambiguous_letters_are_skipped():
    # Only AAAA (twice) and ACGT survive; the windows touching N are dropped.
    freqs = dna.tnf("AAAAANACGT")
    names = dna.canonical_kmers(4)[1]
    assert freqs[0, names.index("AAAA")] == pytest.approx(2 / 3)
    assert freqs[0, names.index("ACGT")] == pytest.approx(1 / 3)


def test_no_clean_tetramer_is_an_error_unless_pseudocounted():
    with pytest.raises(UserInputError, match=r"Sequence 'c2' has no 4-mer"):
        dna.tnf([("c1", "ACGTA"), ("c2", "ACNNGT")])
    freqs = dna.tnf("ACN", pseudocount=1.0)
    np.testing.assert_allclose(freqs, 1 / 136)
    with pytest.raises(ValueError, match="'pseudocount'"):
        dna.tnf("ACGT", pseudocount=-1)
    with pytest.raises(ValueError, match="'k' parameter"):
        dna.kmer_frequencies("ACGT", 0)
    with pytest.raises(ValueError, match="holds no sequences"):
        dna.tnf([])
