"""pseudo_distance and distance_matrix: hand-computed values, both routes agree, properties."""

import math
import warnings

import numpy as np
import pytest
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein.alignment import blosum62
from symcl.domains.protein.alphabet import STANDARD
from symcl.errors import UserInputError

MYOGLOBIN = "VLSEGEWQLVLHVWAKVEADVAGHGQDILIRLFKSHPETLEKFDRVKHLKTEAEMKASEDLKKHGVTVLTALGAILKK"

# Protein strings for hypothesis; the leading W keeps them from looking like DNA.
proteins = st.text(alphabet=STANDARD, min_size=0, max_size=40).map(lambda s: "W" + s)


def mutate(sequence: str, positions: list[int]) -> str:
    letters = list(sequence)
    for i in positions:
        letters[i] = "W" if letters[i] != "W" else "Y"
    return "".join(letters)


def reference_stats(a: str, b: str) -> tuple[float, float, float, float]:
    """Per-column reference for two alignment rows (slow, for tests only)."""
    matrix = blosum62()
    aligned = identities = score = self_a = self_b = 0.0
    for x, y in zip(a, b, strict=True):
        if x in STANDARD and y in STANDARD:
            aligned += 1
            identities += x == y
            score += matrix[x, y]
            self_a += matrix[x, x]
            self_b += matrix[y, y]
    return aligned, identities, score, (self_a + self_b) / 2


@pytest.mark.parametrize("method", protein.METHODS)
def test_identical_sequences_are_at_zero(method):
    assert protein.pseudo_distance(MYOGLOBIN, MYOGLOBIN, method) == 0.0
    assert protein.pseudo_distance(MYOGLOBIN, MYOGLOBIN.lower(), method) == 0.0


def test_p_distance_of_a_substituted_copy():
    # Three substitutions, no indels: the global alignment is gapless, p = 3 / L.
    other = mutate(MYOGLOBIN, [10, 30, 50])
    assert protein.pseudo_distance(MYOGLOBIN, other, "p") == pytest.approx(3 / len(MYOGLOBIN))
    p = 3 / len(MYOGLOBIN)
    assert protein.pseudo_distance(MYOGLOBIN, other, "poisson") == pytest.approx(-math.log(1 - p))
    assert protein.pseudo_distance(MYOGLOBIN, other, "kimura") == pytest.approx(-math.log(1 - p - 0.2 * p * p))


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_p_distance_of_a_constructed_alignment():
    # 11 columns; the gap column and the X column are skipped: 9 comparable, 1 mismatch (K/R).
    a, b = "AC-DEFGHIKX", "ACWDEFGHIRM"
    assert protein.pseudo_distance(a, b, "p", aligned=True) == pytest.approx(1 / 9)


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_scoredist_of_a_constructed_alignment():
    sigma, sigma_n, length = 6.0, 13.0, 2.0  # columns A/A and W/Y, see test_protein_formulas
    expected = -1.2873 * math.log((sigma + 0.5209 * length) / (sigma_n + 0.5209 * length))
    assert protein.pseudo_distance("A-W", "AKY", "scoredist", aligned=True) == pytest.approx(expected)


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_rare_letters_follow_the_policy():
    # U is read as C, so a selenoprotein is at distance 0 from its cysteine form.
    assert protein.pseudo_distance("MKCLLW", "MKULLW", "p", aligned=True) == 0.0
    # X never counts as an identity: one comparable column fewer.
    assert protein.pseudo_distance("MKXLLW", "MKXLLF", "p", aligned=True) == pytest.approx(1 / 5)


def test_pairwise_route_uses_the_counts_of_its_alignment():
    aligner = protein.make_aligner()
    a, b = MYOGLOBIN, MYOGLOBIN[5:40] + "GGSG" + MYOGLOBIN[44:]
    alignment = aligner.align(a, b)[0]
    assert tuple(protein.alignment_stats(alignment)) == reference_stats(alignment[0], alignment[1])


@settings(max_examples=40, deadline=None)
@given(a=proteins, b=proteins)
def test_msa_route_equals_the_pairwise_alignment_counts(a, b):
    # Reading the columns of the pairwise alignment as an MSA gives the same counts.
    alignment = protein.make_aligner().align(a, b)[0]
    rows = [alignment[0], alignment[1]]
    msa = protein.msa_stats(rows)
    assert tuple(float(m[0, 1]) for m in msa) == tuple(protein.alignment_stats(alignment))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(2, 5), length=st.integers(1, 30))
def test_msa_stats_equal_a_column_loop(data, n, length):
    rows = [data.draw(st.text(alphabet=STANDARD + "BZX--", min_size=length, max_size=length)) for _ in range(n)]
    rows = ["W" + row for row in rows]
    stats = protein.msa_stats(rows, block_columns=7)
    for i in range(n):
        for j in range(n):
            assert tuple(float(m[i, j]) for m in stats) == reference_stats(rows[i], rows[j])


@settings(max_examples=30, deadline=None)
@given(rows=st.lists(proteins, min_size=2, max_size=5), method=st.sampled_from(protein.METHODS))
def test_distance_matrix_properties(rows, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", protein.SaturationWarning)
        warnings.simplefilter("ignore", protein.ShortSequenceWarning)  # toy sequences
        d = protein.distance_matrix(rows, method, n_jobs=1, progress=False, aligned=False)
    assert d.shape == (len(rows), len(rows))
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)
    assert (d >= 0).all() and (d <= protein.MAX_DISTANCE).all()


def test_msa_route_is_symmetric_and_ignores_column_order():
    family = protein.read_sequences(data_path("protein", "COX2_TM.aligned.fa"))
    d, saturated = protein.distance_matrix(family, "kimura", return_saturated=True)
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(saturated, saturated.T)
    assert saturated.any() and not saturated.all()  # COX2_SYNY3 is far from the animal sequences
    reversed_columns = [row[::-1] for row in family]
    d2, saturated2 = protein.distance_matrix(reversed_columns, "kimura", aligned=True, return_saturated=True)
    np.testing.assert_allclose(d2, d)
    np.testing.assert_array_equal(saturated2, saturated)


def test_parallel_equals_serial_in_input_order():
    family = protein.read_sequences(data_path("protein", "RRM_1.fa"))
    subset = protein.ProteinSequences(family.ids[:24], family.sequences[:24])  # 276 pairs: parallel route
    serial = protein.distance_matrix(subset, "scoredist", n_jobs=1, progress=False)
    parallel = protein.distance_matrix(subset, "scoredist", n_jobs=2, progress=False)
    np.testing.assert_array_equal(serial, parallel)
    first = protein.pseudo_distance(subset[0], subset[5], "scoredist")
    assert serial[0, 5] == pytest.approx(first)


def test_realigned_and_msa_routes_agree_on_a_real_family():
    from scipy.stats import spearmanr

    aligned = protein.read_sequences(data_path("protein", "COX2_TM.aligned.fa"))
    unaligned = protein.read_sequences(data_path("protein", "COX2_TM.fa"))
    assert aligned.ids == unaligned.ids
    d_msa = protein.distance_matrix(aligned, "scoredist")
    d_pair = protein.distance_matrix(unaligned, "scoredist", progress=False)
    upper = np.triu_indices(len(aligned), k=1)
    assert spearmanr(d_msa[upper], d_pair[upper]).statistic > 0.9


def test_unrelated_sequences_are_not_aligned_on_a_few_overlapping_end_residues():
    # With free end gaps the best alignment is the W of one against the W of the other: p = 0.
    a, b = "G" * 19 + "W", "W" + "P" * 19
    assert protein.pseudo_distance(a, b, "p") > 0.5


def test_a_divergent_real_family_is_realigned_in_agreement_with_its_msa():
    # RRM_1 (Pfam seed, mean identity 0.24): free end gaps aligned 61 of its 3,081 pairs over
    # fewer than 10 columns, three of them at distance 0 (Spearman 0.70 against the MSA).
    from scipy.stats import spearmanr

    aligned = protein.read_sequences(data_path("protein", "RRM_1.aligned.fa"))
    d_msa, _ = protein.distance_matrix(aligned, "scoredist", return_saturated=True)
    unaligned = protein.read_sequences(data_path("protein", "RRM_1.fa"))
    d_pair, _ = protein.distance_matrix(unaligned, "scoredist", progress=False, return_saturated=True)
    upper = np.triu_indices(len(aligned), k=1)
    assert d_pair[upper].min() > 0.1
    assert spearmanr(d_msa[upper], d_pair[upper]).statistic > 0.8


def test_pseudo_distance_is_symmetric_when_realigning():
    rrm = protein.read_sequences(data_path("protein", "RRM_1.fa"))
    a, b = (rrm.sequences[rrm.ids.index(name)] for name in ("RU2B_HUMAN/153-220", "SFRS1_HUMAN/123-187"))
    assert protein.pseudo_distance(a, b, "scoredist") == protein.pseudo_distance(b, a, "scoredist")


def test_sequence_inputs_are_accepted():
    records = [SeqRecord(Seq(MYOGLOBIN), id="m1"), SeqRecord(Seq(mutate(MYOGLOBIN, [3])), id="m2")]
    d = protein.distance_matrix(records, "p", progress=False)
    assert d[0, 1] == pytest.approx(1 / len(MYOGLOBIN))


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_saturated_pairs_are_capped_and_flagged():
    # Unrelated sequences: Poisson of p >= 1 is undefined.
    rows = ["WWWWWWWWWW", "KKKKKKKKKK", "WWWWWWWWWK"]
    d, saturated = protein.distance_matrix(rows, "poisson", aligned=True, return_saturated=True)
    assert saturated[0, 1] and saturated[1, 0] and not saturated[0, 2] and not saturated.diagonal().any()
    assert d[0, 1] == protein.MAX_DISTANCE
    with pytest.warns(protein.SaturationWarning, match=r"2 of 3 pairs are saturated.*\(sequence 0, sequence 1\)"):
        protein.distance_matrix(rows, "poisson", aligned=True, max_distance=2.0)
    with pytest.warns(protein.SaturationWarning):
        assert protein.pseudo_distance(rows[0], rows[1], "kimura", aligned=True, max_distance=2.0) == 2.0
    assert protein.pseudo_distance(rows[0], rows[1], "p", aligned=True, return_saturated=True) == (1.0, False)


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_no_comparable_columns_is_saturated():
    d, flag = protein.pseudo_distance("MKV---", "---LLW", "p", aligned=True, return_saturated=True)
    assert flag and d == 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="'method' parameter of pseudo_distance"):
        protein.pseudo_distance("MKV", "MKV", "jukes")
    with pytest.raises(ValueError, match="'max_distance' parameter of distance_matrix must be a finite number > 0"):
        protein.distance_matrix(["MKV", "MKW"], max_distance=0)
    with pytest.raises(ValueError, match="'n_jobs' parameter"):
        protein.distance_matrix(["MKV", "MKW"], n_jobs=0)
    with pytest.raises(TypeError, match="'seqs' parameter"):
        protein.distance_matrix("MKVMKW")
    with pytest.raises(ValueError, match="equal length"):
        protein.pseudo_distance("MK-V", "MKV", aligned=True)
    with pytest.raises(UserInputError, match="record 'sequence 1': invalid character"):
        protein.distance_matrix(["MKV", "MK1"])
    with pytest.raises(ValueError, match="'gap_open' parameter of make_aligner"):
        protein.make_aligner(gap_open=5)
