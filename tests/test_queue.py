import numpy as np
import pytest
import torch
from reference import reference_info_nce

import symcl
from symcl import InfoNCE, NegativeQueue


def _rows(start, count, dim=3):
    """Keys whose first coordinate names their batch position, so order is visible."""
    keys = torch.zeros(count, dim)
    keys[:, 0] = torch.arange(start, start + count, dtype=torch.float32)
    return keys


def test_ring_buffer_overwrites_the_oldest_entries():
    queue = NegativeQueue(size=5, dim=3)
    assert len(queue) == 0 and queue.negatives().shape == (0, 3)
    queue.enqueue(_rows(0, 3))
    queue.enqueue(_rows(3, 3))  # wraps: slots 3, 4, 0
    assert len(queue) == 5
    assert sorted(queue.negatives()[:, 0].tolist()) == [1, 2, 3, 4, 5]
    assert sorted(queue.ages().tolist()) == [0, 0, 0, 1, 1]


def test_batch_larger_than_the_queue_keeps_its_last_entries():
    queue = NegativeQueue(size=4, dim=3)
    queue.enqueue(_rows(0, 10))
    assert sorted(queue.negatives()[:, 0].tolist()) == [6, 7, 8, 9]


def test_entries_older_than_max_age_are_never_used():
    queue = NegativeQueue(size=100, dim=3, max_age=1)
    for step in range(4):
        queue.enqueue(_rows(10 * step, 2))
    # Steps 0..3 wrote ages 3, 2, 1, 0: only the last two batches are usable.
    assert sorted(queue.negatives()[:, 0].tolist()) == [20, 21, 30, 31]
    assert queue.ages().max().item() == 1


def test_same_group_entries_are_excluded_as_false_negatives():
    queue = NegativeQueue(size=8, dim=3)
    queue.enqueue(_rows(0, 3), groups=torch.tensor([7, 8, 9]))
    queue.enqueue(_rows(3, 1))  # ungrouped: never excluded
    mask = queue.exclusion_mask(torch.tensor([8, 1]))
    labels = queue.negatives()[:, 0].tolist()
    assert mask.shape == (2, 4)
    assert [labels[k] for k in range(4) if mask[0, k]] == [1]
    assert not mask[1].any()


def test_ungrouped_keys_overwriting_grouped_ones_are_never_excluded():
    # The overwritten slots keep their stale group id 5: only the has_group flag, cleared by the
    # ungrouped write, keeps them from matching a sample of group 5.
    queue = NegativeQueue(size=4, dim=3)
    queue.enqueue(_rows(0, 4), groups=torch.tensor([5, 5, 5, 5]))
    queue.enqueue(_rows(4, 4))
    assert not queue.exclusion_mask(torch.tensor([0, 5])).any()


def test_loss_uses_the_old_bank_then_enqueues():
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)) for _ in range(3)]
    loss_fn = InfoNCE(0.2, queue=NegativeQueue(size=6, dim=3))
    losses = [loss_fn(z1, z2) for z1, z2 in batches]
    # Step 0 sees an empty bank; step 1 sees step 0's keys; step 2 the last 6 keys.
    torch.testing.assert_close(losses[0], symcl.info_nce(*batches[0], temperature=0.2))
    torch.testing.assert_close(losses[1], symcl.info_nce(*batches[1], temperature=0.2, negatives=batches[0][1]))
    bank = torch.cat([batches[0][1], batches[1][1]])[-6:]
    expected = reference_info_nce(*batches[2], temperature=0.2, negatives=bank)
    assert losses[2].item() == pytest.approx(expected.item(), rel=1e-5)


def test_group_exclusion_reaches_the_loss():
    g = torch.Generator().manual_seed(1)
    old = torch.randn(4, 3, generator=g)
    old_groups = torch.tensor([0, 1, 2, 3])
    z1, z2 = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    groups = torch.tensor([0, 5, 2, 6])
    loss_fn = InfoNCE(0.5, queue=NegativeQueue(size=8, dim=3))
    loss_fn.queue.enqueue(old, old_groups)
    loss = loss_fn(z1, z2, groups=groups)
    expected = reference_info_nce(
        z1,
        z2,
        temperature=0.5,
        negatives=old,
        groups=groups,
        negatives_exclude=groups[:, None] == old_groups[None, :],
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_nearby_locations_exclude_queue_entries_too():
    # Entries from an earlier step of the same source, closer than the distance, are no negatives;
    # one of the same source but far away, and one of another source, stay negatives.
    g = torch.Generator().manual_seed(2)
    old = torch.randn(3, 3, generator=g)
    old_locations = torch.tensor([[0, 100], [0, 90_000], [1, 100]])
    z1, z2 = torch.randn(2, 3, generator=g), torch.randn(2, 3, generator=g)
    locations = torch.tensor([[0, 5_000], [1, 60_000]])
    loss_fn = InfoNCE(0.5, queue=NegativeQueue(size=8, dim=3))
    loss_fn.queue.enqueue(old, locations=old_locations)
    loss = loss_fn(z1, z2, locations=locations, exclusion_distance=10_000)
    expected = reference_info_nce(
        z1, z2, temperature=0.5, negatives=old, negatives_exclude=torch.tensor([[True, False, False]] + [[False] * 3])
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_queue_saved_before_entries_had_locations_loads():
    queue = NegativeQueue(size=4, dim=3)
    queue.enqueue(torch.ones(2, 3), torch.tensor([0, 1]))
    older = {k: v for k, v in queue.state_dict().items() if k not in ("locations", "has_location")}
    restored = NegativeQueue(size=4, dim=3)
    restored.load_state_dict(older)
    assert torch.equal(restored.negatives(), queue.negatives()) and not restored.has_location.any()


def test_eval_mode_reads_but_never_writes_the_queue():
    loss_fn = InfoNCE(queue=NegativeQueue(size=8, dim=3)).eval()
    loss_fn(torch.randn(4, 3), torch.randn(4, 3))
    assert len(loss_fn.queue) == 0


def test_state_dict_round_trip_restores_the_bank():
    queue = NegativeQueue(size=5, dim=3, max_age=3)
    queue.enqueue(_rows(0, 4), groups=torch.arange(4))
    queue.enqueue(_rows(4, 2))
    copy = NegativeQueue(size=5, dim=3, max_age=3)
    copy.load_state_dict(queue.state_dict())
    torch.testing.assert_close(copy.negatives(), queue.negatives())
    torch.testing.assert_close(copy.ages(), queue.ages())
    copy.enqueue(_rows(6, 1))
    queue.enqueue(_rows(6, 1))
    torch.testing.assert_close(copy.negatives(), queue.negatives())


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(size=0, dim=3), "'size'"), (dict(size=4, dim=0), "'dim'"), (dict(size=4, dim=3, max_age=-1), "'max_age'")],
)
def test_bad_queue_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NegativeQueue(**kwargs)


def test_bad_enqueue_shapes():
    queue = NegativeQueue(size=4, dim=3)
    with pytest.raises(ValueError, match=r"'keys'.*\(B, 3\).*\(2, 5\)"):
        queue.enqueue(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"'groups'.*\(2,\)"):
        queue.enqueue(torch.zeros(2, 3), groups=torch.zeros(3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_enqueue_refuses_non_integer_groups_and_locations(dtype):
    queue = NegativeQueue(size=4, dim=3)
    with pytest.raises(
        TypeError, match=f"The 'groups' parameter of NegativeQueue.enqueue must have an integer dtype. Got {dtype}"
    ):
        queue.enqueue(torch.zeros(2, 3), groups=torch.tensor([0.7, 1.9]).to(dtype))
    with pytest.raises(
        TypeError, match=f"The 'locations' parameter of NegativeQueue.enqueue must have an integer dtype. Got {dtype}"
    ):
        queue.enqueue(torch.zeros(2, 3), locations=torch.tensor([[0.0, 1.5], [0.0, 2.5]]).to(dtype))
    assert len(queue) == 0  # nothing was stored


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_enqueue_refuses_non_finite_keys(bad):
    queue = NegativeQueue(size=4, dim=3)
    keys = torch.zeros(2, 3)
    keys[1, 2] = bad
    with pytest.raises(ValueError, match="The 'keys' parameter of NegativeQueue.enqueue must be finite"):
        queue.enqueue(keys)
    with pytest.raises(
        TypeError, match="The 'keys' parameter of NegativeQueue.enqueue must be floating point. Got torch.int64"
    ):
        queue.enqueue(torch.zeros(2, 3, dtype=torch.long))
    assert len(queue) == 0


def test_exclusion_mask_takes_numpy_ids_and_refuses_other_shapes_and_dtypes():
    queue = NegativeQueue(size=4, dim=3)
    queue.enqueue(_rows(0, 2), groups=torch.tensor([1, 2]))
    expected = torch.tensor([[False, True], [True, False]])
    assert torch.equal(queue.exclusion_mask(np.array([2, 1])), expected)
    assert torch.equal(queue.exclusion_mask(torch.tensor([2, 1])), expected)
    with pytest.raises(
        ValueError, match=r"'groups' parameter of NegativeQueue.exclusion_mask must have shape \(N,\). Got \(1, 2\)"
    ):
        queue.exclusion_mask(torch.tensor([[1, 2]]))
    with pytest.raises(
        TypeError,
        match="'groups' parameter of NegativeQueue.exclusion_mask must have an integer dtype. Got torch.float32",
    ):
        queue.exclusion_mask(torch.tensor([1.0, 2.0]))
    with pytest.raises(
        TypeError, match="'groups' parameter of NegativeQueue.exclusion_mask must have an integer dtype. Got float64"
    ):
        queue.exclusion_mask(np.array([1.0, 2.0]))
    with pytest.raises(
        TypeError,
        match="'groups' parameter of NegativeQueue.exclusion_mask must be a torch.Tensor or numpy array. Got list",
    ):
        queue.exclusion_mask([1, 2])


def test_numpy_integers_are_integers():
    queue = NegativeQueue(np.int64(5), np.int32(3), max_age=np.uint8(2))
    assert (queue.size, queue.dim, queue.max_age) == (5, 3, 2) and type(queue.size) is int
    queue.enqueue(_rows(0, 2))
    assert queue.negatives().shape == (2, 3)
    with pytest.raises(ValueError, match="The 'size' parameter of NegativeQueue must be an integer >= 1. Got True"):
        NegativeQueue(True, 3)


def test_a_non_finite_loss_enqueues_nothing_so_the_training_loop_reports_the_step():
    loss_fn = InfoNCE(queue=NegativeQueue(size=8, dim=3))
    z = torch.full((4, 3), float("nan"))
    assert torch.isnan(loss_fn(z, z))  # not the queue's refusal of NaN keys
    assert len(loss_fn.queue) == 0
