"""The stratified pair sampler (a view generator) and the simulated training families."""

import pickle

import numpy as np
import pytest
import torch

from symcl.data import data_path
from symcl.domains import protein
from symcl.views import ViewBatch


@pytest.fixture(scope="module")
def real():
    return protein.family_distances(protein.read_sequences(data_path("protein", "COX2_TM.aligned.fa")), name="COX2")


@pytest.fixture(scope="module")
def simulated():
    return protein.simulated_families(6, 0, sizes=(6, 12), lengths=(40, 60))


@pytest.fixture(scope="module")
def sampler(real, simulated):
    return protein.PairSampler([real, *simulated])


def lengths(codes: torch.Tensor) -> np.ndarray:
    return (codes != protein.PAD_CODE).sum(dim=1).numpy()


def test_family_distances_use_the_classical_route(real):
    family = protein.read_sequences(data_path("protein", "COX2_TM.aligned.fa"))
    expected, saturated = protein.distance_matrix(family, "scoredist", progress=False, return_saturated=True)
    np.testing.assert_array_equal(real.distances, expected)
    np.testing.assert_array_equal(real.saturated, saturated)
    assert real.name == "COX2"
    with pytest.raises(ValueError, match="must have shape"):
        protein.FamilyDistances("x", family, np.zeros((2, 2)), np.zeros((2, 2), bool))


def test_sample_follows_the_view_generator_contract(sampler):
    batch = sampler.sample(32, torch.Generator().manual_seed(1))
    assert isinstance(batch, ViewBatch)
    assert batch.view1.dtype == torch.int64 and batch.view1.shape[0] == 32 and batch.view2.shape[0] == 32
    assert batch.target.shape == (32,) and batch.target.dtype == torch.float32
    assert ((batch.target >= 0) & (batch.target <= 3.0)).all()
    for view in (batch.view1, batch.view2):
        protein.encoder.check_codes(view)  # padding only at the end, every row has residues
    again = sampler.sample(32, torch.Generator().manual_seed(1))
    for a, b in zip(
        (batch.view1, batch.view2, batch.target, batch.labels),
        (again.view1, again.view2, again.target, again.labels),
        strict=True,
    ):
        assert torch.equal(a, b)
    other = sampler.sample(32, torch.Generator().manual_seed(2))
    assert not torch.equal(batch.target, other.target)
    assert not torch.equal(batch.view1, batch.view2)
    copy = pickle.loads(pickle.dumps(sampler))
    assert torch.equal(
        copy.sample(8, torch.Generator().manual_seed(5)).target,
        sampler.sample(8, torch.Generator().manual_seed(5)).target,
    )


def test_strata_cover_every_bin_and_targets_fall_in_their_bin(sampler):
    batch = sampler.sample(3000, torch.Generator().manual_seed(0))
    labels, target = batch.labels.numpy(), batch.target.numpy().astype(float)
    edges = np.array(sampler.bin_edges)
    nonempty = np.flatnonzero(sampler.bin_counts_)
    assert len(nonempty) >= 7  # simulated families span the distance range
    assert sampler.strata_ == [*(f"bin {k}" for k in nonempty), "cross"]
    counts = np.bincount(labels, minlength=len(sampler.strata_))
    assert (counts > 0).all()
    within = counts[:-1] / counts[:-1].sum()
    np.testing.assert_allclose(within, 1 / len(nonempty), atol=0.04)  # strata equally likely
    assert counts[-1] / counts.sum() == pytest.approx(0.15, abs=0.03)
    for stratum, k in enumerate(nonempty):
        values = target[labels == stratum]
        last = k == len(edges) - 2
        assert (values >= edges[k]).all() and ((values < edges[k + 1]) | last).all()


def test_cross_family_pairs_are_at_saturation_and_from_two_families():
    a = protein.simulate_family(5, 50, 1, name="a").sequences
    b = protein.simulate_family(6, 70, 2, name="b").sequences
    families = [protein.family_distances(f, name=f.ids[0][0]) for f in (a, b)]
    sampler = protein.PairSampler(families, cross_family_fraction=0.5)
    batch = sampler.sample(400, torch.Generator().manual_seed(0))
    cross = batch.labels.numpy() == sampler.strata_.index("cross")
    assert 100 < cross.sum() < 300
    assert (batch.target.numpy()[cross] == 3.0).all()
    pair_lengths = np.stack([lengths(batch.view1), lengths(batch.view2)], axis=1)
    assert (np.sort(pair_lengths[cross], axis=1) == [50, 70]).all()  # one sequence of each family
    assert (pair_lengths[~cross, 0] == pair_lengths[~cross, 1]).all()  # within a family
    # exclude marks pairs that start in the same family (told apart by length here).
    first_family = lengths(batch.view1) == 70
    assert batch.exclude.shape == (400, 400) and batch.exclude.dtype == torch.bool
    np.testing.assert_array_equal(batch.exclude.numpy(), first_family[:, None] == first_family[None, :])


def test_within_family_targets_are_matrix_entries(real):
    sampler = protein.PairSampler([real])
    assert "cross" not in sampler.strata_  # a single family has no cross-family pairs
    batch = sampler.sample(200, torch.Generator().manual_seed(3))
    entries = set(np.round(real.distances[np.triu_indices(len(real.sequences), 1)].astype(np.float32), 5))
    assert set(np.round(batch.target.numpy(), 5)) <= entries


def test_sampler_validates(real):
    with pytest.raises(ValueError, match="non-empty list of FamilyDistances"):
        protein.PairSampler([])
    with pytest.raises(ValueError, match="'bin_edges'"):
        protein.PairSampler([real], bin_edges=[0.5, 0.2])
    with pytest.raises(ValueError, match=r"'cross_family_fraction' parameter of PairSampler must be in \[0, 1\)"):
        protein.PairSampler([real], cross_family_fraction=1.0)
    one = protein.family_distances(protein.ProteinSequences(("x",), ("MKV",)))
    with pytest.raises(ValueError, match="at least 2 sequences"):
        protein.PairSampler([one])
    with pytest.raises(ValueError, match="'batch_size'"):
        protein.PairSampler([real]).sample(0, torch.Generator())


def test_simulated_families_are_seeded_and_span_the_range(simulated):
    assert [f.name for f in simulated] == [f"sim{k}" for k in range(6)]
    assert all(6 <= len(f.sequences) <= 12 and 40 <= len(f.sequences[0]) <= 60 for f in simulated)
    again = protein.simulated_families(6, np.random.default_rng(0), sizes=(6, 12), lengths=(40, 60))
    assert all(f.sequences == g.sequences for f, g in zip(simulated, again, strict=True))
    with pytest.raises(ValueError, match="'sizes'"):
        protein.simulated_families(2, 0, sizes=(1, 5))
    with pytest.raises(ValueError, match="'branch_lengths'"):
        protein.simulated_families(2, 0, branch_lengths=(0.0, 1.0))


def test_simulated_families_with_gaps_keep_the_alignment_and_its_targets(simulated):
    gapped = protein.simulated_families(6, 0, sizes=(6, 12), lengths=(40, 60), gaps=0.2)
    assert not any("-" in text for family in simulated for text in family.sequences.sequences)
    for family in gapped:
        rows = family.sequences.sequences
        assert family.sequences.aligned and len({len(row) for row in rows}) == 1
        assert all(row.count("-") < len(row) for row in rows)
        assert np.isfinite(family.distances).all()
    # The first family is drawn before any gap: gaps only replace residues of the same rows.
    for row, full in zip(gapped[0].sequences.sequences, simulated[0].sequences.sequences, strict=True):
        assert len(row) == len(full) and all(a == "-" or a == b for a, b in zip(row, full, strict=True))
    assert gapped[0].distances.shape == simulated[0].distances.shape
    assert any(row.startswith("-") or row.endswith("-") for f in gapped for row in f.sequences.sequences)
    with pytest.raises(ValueError, match="'gaps' parameter of simulated_families must be in"):
        protein.simulated_families(1, 0, gaps=0.5)
