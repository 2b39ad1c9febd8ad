import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import reference_info_nce

import symcl
from symcl.objectives import masked_info_nce


def _inputs(n=6, d=5, m=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=dtype)
    z2 = z1 + 0.5 * torch.randn(n, d, generator=g, dtype=dtype)
    bank = torch.randn(m, d, generator=g, dtype=dtype)
    exclude = torch.rand(n, n, generator=g) < 0.3
    groups = torch.randint(0, 3, (n,), generator=g)
    negatives_exclude = torch.rand(n, m, generator=g) < 0.3
    return z1, z2, bank, exclude, groups, negatives_exclude


def _value_and_grads(fn, z1, z2, bank, **kwargs):
    z1, z2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    bank = None if bank is None else bank.clone().requires_grad_()
    loss = fn(z1, z2, negatives=bank, **kwargs)
    tensors = [z1, z2] + ([bank] if bank is not None else [])
    return loss.detach(), torch.autograd.grad(loss, tensors)


OPTIONS = list(
    itertools.product(
        [False, True],  # negatives bank
        [False, True],  # exclude
        [False, True],  # groups
        [0.0, 0.7],  # hard_negative_beta
        [0.0, 0.1],  # debias_tau_plus
    )
)


@pytest.mark.parametrize("chunk_size", [None, 5])
@pytest.mark.parametrize("use_bank,use_exclude,use_groups,beta,tau_plus", OPTIONS)
def test_value_and_gradient_match_float64_reference(use_bank, use_exclude, use_groups, beta, tau_plus, chunk_size):
    z1, z2, bank, exclude, groups, _ = _inputs()
    kwargs = dict(
        temperature=0.2,
        exclude=exclude if use_exclude else None,
        groups=groups if use_groups else None,
        hard_negative_beta=beta,
        debias_tau_plus=tau_plus,
    )
    bank = bank if use_bank else None
    got, got_grads = _value_and_grads(symcl.info_nce, z1, z2, bank, chunk_size=chunk_size, **kwargs)
    want, want_grads = _value_and_grads(reference_info_nce, z1, z2, bank, **kwargs)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_float32_negatives_join_embeddings_of_another_dtype(dtype):
    g = torch.Generator().manual_seed(0)
    z1, z2, bank = (torch.randn(n, 4, generator=g) for n in (6, 6, 5))
    loss = symcl.info_nce(z1.to(dtype), z2.to(dtype), negatives=bank)  # a queue keeps float32 entries
    assert loss.dtype == dtype
    assert loss.float().item() == pytest.approx(symcl.info_nce(z1, z2, negatives=bank).item(), rel=2e-2)


def test_negatives_exclude_matches_reference():
    z1, z2, bank, exclude, groups, negatives_exclude = _inputs()
    kwargs = dict(temperature=0.3, groups=groups, exclude=exclude, negatives_exclude=negatives_exclude)
    got, got_grads = _value_and_grads(masked_info_nce, z1, z2, bank, **kwargs)
    want, want_grads = _value_and_grads(reference_info_nce, z1, z2, bank, **kwargs)
    torch.testing.assert_close(got, want)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w)


def test_debias_clamp_is_reached_and_matches_reference():
    # Positives far more similar than negatives with a large tau+ drive the debiased
    # estimate below its theoretical minimum, so the clamp must be active.
    z1, z2, *_ = _inputs(n=4)
    z2 = z1.clone()
    kwargs = dict(temperature=0.5, debias_tau_plus=0.9)
    got, got_grads = _value_and_grads(symcl.info_nce, z1, z2, None, **kwargs)
    want, want_grads = _value_and_grads(reference_info_nce, z1, z2, None, **kwargs)
    torch.testing.assert_close(got, want)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w)


@pytest.mark.parametrize("n", [1, 2, 7, 64])
@pytest.mark.parametrize("temperature", [0.01, 0.1, 1.0])
def test_collapsed_embeddings_give_log_2n_minus_1(n, temperature):
    z = torch.ones(n, 16)
    loss = symcl.info_nce(z, z.clone(), temperature=temperature)
    assert loss.item() == pytest.approx(math.log(2 * n - 1), abs=1e-5)


def test_finite_and_accurate_at_low_temperature():
    z1, z2, *_ = _inputs(n=64, d=32, dtype=torch.float32)
    z1.requires_grad_()
    loss = symcl.info_nce(z1, z2, temperature=0.01)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(z1.grad).all()
    want = reference_info_nce(z1.detach(), z2, temperature=0.01)
    assert loss.item() == pytest.approx(want.item(), rel=1e-4)


def test_exclusion_equals_deleting_the_negatives():
    # Excluding every cross-pair between two halves makes them independent batches.
    z1, z2, *_ = _inputs(n=8)
    half = torch.arange(8) < 3
    exclude = half[:, None] != half[None, :]
    joint = symcl.info_nce(z1, z2, exclude=exclude)
    a = symcl.info_nce(z1[half], z2[half])
    b = symcl.info_nce(z1[~half], z2[~half])
    torch.testing.assert_close(joint, (a * 3 + b * 5) / 8)


def test_excluding_every_negative_leaves_zero_loss():
    z1, z2, *_ = _inputs(n=5)
    z1.requires_grad_()
    loss = symcl.info_nce(z1, z2, exclude=torch.ones(5, 5, dtype=torch.bool))
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-12)
    assert torch.isfinite(z1.grad).all()


@pytest.mark.parametrize("chunk_size", [1, 3, 11, 12, 100])
def test_chunked_matches_dense(chunk_size):
    z1, z2, bank, exclude, groups, _ = _inputs()
    temperature = symcl.LearnableTemperature(0.2).double()
    kwargs = dict(exclude=exclude, temperature=temperature, hard_negative_beta=0.5)
    dense, dense_grads = _value_and_grads(symcl.info_nce, z1, z2, bank, **kwargs)
    dense_tau_grad = torch.autograd.grad(symcl.info_nce(z1, z2, negatives=bank, **kwargs), temperature.log_temperature)
    chunked, chunked_grads = _value_and_grads(symcl.info_nce, z1, z2, bank, chunk_size=chunk_size, **kwargs)
    chunked_tau_grad = torch.autograd.grad(
        symcl.info_nce(z1, z2, negatives=bank, chunk_size=chunk_size, **kwargs), temperature.log_temperature
    )
    torch.testing.assert_close(chunked, dense)
    for g, w in zip(chunked_grads + chunked_tau_grad, dense_grads + dense_tau_grad, strict=True):
        torch.testing.assert_close(g, w)


def test_learnable_temperature_is_usable_in_place_of_a_float():
    z1, z2, *_ = _inputs()
    temperature = symcl.LearnableTemperature(0.2).double()
    loss = symcl.info_nce(z1, z2, temperature=temperature)
    torch.testing.assert_close(loss, symcl.info_nce(z1, z2, temperature=0.2))
    loss.backward()
    assert temperature.log_temperature.grad is not None
    assert temperature.log_temperature.grad.abs().item() > 0


def test_learnable_temperature_is_clamped_to_its_safe_range():
    temperature = symcl.LearnableTemperature(0.07, minimum=0.01, maximum=1.0)
    with torch.no_grad():
        temperature.log_temperature.fill_(math.log(1e-6))
    assert temperature().item() == pytest.approx(0.01)
    with torch.no_grad():
        temperature.log_temperature.fill_(math.log(50.0))
    assert temperature().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="'initial'.*Got 2.0"):
        symcl.LearnableTemperature(2.0)


def test_learnable_temperature_comes_back_from_its_bound():
    temperature = symcl.LearnableTemperature(0.5, minimum=0.01, maximum=1.0)
    with torch.no_grad():  # an optimiser step pushed it past the maximum
        temperature.log_temperature.fill_(math.log(3.0))
    value = temperature()
    assert value.item() == pytest.approx(1.0)
    value.backward()  # a loss that wants a smaller temperature
    assert temperature.log_temperature.grad.item() > 0
    torch.optim.SGD(temperature.parameters(), lr=0.1).step()
    assert temperature().item() < 0.95


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(temperature=0.0), ValueError, "'temperature'.*> 0. Got 0.0"),
        (dict(temperature=-1.0), ValueError, "'temperature'.*Got -1.0"),
        (dict(temperature=math.nan), ValueError, "'temperature'.*finite"),
        (dict(temperature=math.inf), ValueError, "'temperature'.*finite"),
        (dict(temperature=torch.tensor(-0.5)), ValueError, "'temperature'.*Got -0.5"),
        (dict(temperature=torch.ones(2)), ValueError, "'temperature'.*scalar"),
        (dict(temperature="0.1"), TypeError, "'temperature'.*real number"),
        (dict(exclude=torch.zeros(4, 4)), TypeError, "'exclude'.*bool"),
        (dict(exclude=torch.zeros(3, 4, dtype=torch.bool)), ValueError, r"'exclude'.*\(4, 4\)"),
        (dict(groups=torch.zeros(4)), TypeError, "'groups'.*integer"),
        (dict(groups=torch.zeros(5, dtype=torch.long)), ValueError, r"'groups'.*\(4,\)"),
        (dict(negatives=torch.zeros(3, 7)), ValueError, r"'negatives'.*\(M, 8\)"),
        (dict(hard_negative_beta=-0.1), ValueError, "'hard_negative_beta'.*>= 0"),
        (dict(debias_tau_plus=1.0), ValueError, r"'debias_tau_plus'.*\[0, 1\)"),
        (dict(chunk_size=0), ValueError, "'chunk_size'.*Got 0"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, match):
    z = torch.randn(4, 8)
    with pytest.raises(error, match=match):
        symcl.info_nce(z, z, **kwargs)


def test_bad_embeddings_raise_clear_errors():
    with pytest.raises(ValueError, match="same shape"):
        symcl.info_nce(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match=r"'z1'.*\(N, d\)"):
        symcl.info_nce(torch.randn(8), torch.randn(8))
    with pytest.raises(TypeError, match="'z2'.*torch.Tensor"):
        symcl.info_nce(torch.randn(4, 8), [[0.0] * 8] * 4)
    with pytest.raises(TypeError, match="'z1'.*floating"):
        symcl.info_nce(torch.ones(4, 8, dtype=torch.long), torch.ones(4, 8, dtype=torch.long))


embeddings = st.integers(min_value=0, max_value=2**31 - 1).map(lambda seed: _inputs(n=5, d=4, seed=seed))


@settings(max_examples=40, deadline=None)
@given(embeddings, st.floats(0.05, 2.0), st.floats(0.1, 10.0))
def test_invariant_to_positive_rescaling_of_embeddings(inputs, temperature, scale):
    z1, z2, *_ = inputs
    torch.testing.assert_close(
        symcl.info_nce(z1 * scale, z2, temperature=temperature),
        symcl.info_nce(z1, z2, temperature=temperature),
    )


@settings(max_examples=40, deadline=None)
@given(embeddings, st.permutations(range(5)), st.booleans())
def test_invariant_to_view_swap_and_sample_permutation(inputs, order, use_masks):
    z1, z2, bank, exclude, groups, _ = inputs
    order = torch.tensor(order)
    exclude = exclude if use_masks else None
    groups = groups if use_masks else None
    base = symcl.info_nce(z1, z2, negatives=bank, exclude=exclude, groups=groups)
    swapped = symcl.info_nce(z2, z1, negatives=bank, exclude=exclude, groups=groups)
    permuted = symcl.info_nce(
        z1[order],
        z2[order],
        negatives=bank,
        exclude=None if exclude is None else exclude[order][:, order],
        groups=None if groups is None else groups[order],
    )
    torch.testing.assert_close(swapped, base)
    torch.testing.assert_close(permuted, base)


@settings(max_examples=40, deadline=None)
@given(embeddings, st.floats(0.0, 2.0), st.floats(0.0, 0.5))
def test_single_positive_loss_is_a_nonnegative_log_probability(inputs, beta, tau_plus):
    z1, z2, bank, *_ = inputs
    loss = symcl.info_nce(z1, z2, negatives=bank, hard_negative_beta=beta, debias_tau_plus=tau_plus)
    assert torch.isfinite(loss)
    assert loss.item() >= 0.0


@settings(max_examples=25, deadline=None)
@given(embeddings, st.integers(1, 12))
def test_chunked_equals_dense_for_any_chunk_size(inputs, chunk_size):
    z1, z2, bank, exclude, groups, _ = inputs
    kwargs = dict(negatives=bank, exclude=exclude, groups=groups)
    torch.testing.assert_close(
        symcl.info_nce(z1, z2, chunk_size=chunk_size, **kwargs), symcl.info_nce(z1, z2, **kwargs)
    )


@pytest.mark.parametrize("chunk_size", [None, 5])
def test_info_nce_takes_a_queue_exclusion_mask(chunk_size):
    z1, z2, bank, exclude, groups, negatives_exclude = _inputs()
    kwargs = dict(temperature=0.3, exclude=exclude, negatives_exclude=negatives_exclude)
    got, got_grads = _value_and_grads(symcl.info_nce, z1, z2, bank, chunk_size=chunk_size, **kwargs)
    want, want_grads = _value_and_grads(reference_info_nce, z1, z2, bank, **kwargs)
    torch.testing.assert_close(got, want)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w)
    # excluding every entry is the same as having no bank
    everything = torch.ones_like(negatives_exclude)
    without = symcl.info_nce(z1, z2, temperature=0.3, exclude=exclude, chunk_size=chunk_size)
    torch.testing.assert_close(
        symcl.info_nce(
            z1,
            z2,
            temperature=0.3,
            exclude=exclude,
            negatives=bank,
            negatives_exclude=everything,
            chunk_size=chunk_size,
        ),
        without,
    )


def test_info_nce_checks_the_queue_exclusion_mask():
    z1, z2, bank, _, _, negatives_exclude = _inputs()
    with pytest.raises(
        ValueError, match=r"'negatives_exclude' parameter of info_nce must have shape \(6, 4\)\. Got \(6, 3\)"
    ):
        symcl.info_nce(z1, z2, negatives=bank, negatives_exclude=negatives_exclude[:, :3])
    with pytest.raises(ValueError, match="'negatives_exclude' parameter of info_nce needs 'negatives'"):
        symcl.info_nce(z1, z2, negatives_exclude=negatives_exclude)
    with pytest.raises(TypeError, match="'negatives_exclude' parameter of info_nce must be a bool tensor"):
        symcl.info_nce(z1, z2, negatives=bank, negatives_exclude=negatives_exclude.long())
