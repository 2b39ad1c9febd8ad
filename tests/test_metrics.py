import itertools
import math

import numpy as np
import pytest
import torch

import symcl


def test_alignment_extremes():
    z = torch.randn(10, 4)
    assert symcl.alignment(z, z * 3).item() == pytest.approx(0.0, abs=1e-6)
    assert symcl.alignment(z, -z).item() == pytest.approx(4.0, rel=1e-6)  # ||2u||^2
    assert symcl.alignment(z, -z, alpha=1).item() == pytest.approx(2.0, rel=1e-6)


def test_uniformity_matches_the_pairwise_definition():
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(12, 5, generator=g), dim=1)
    pairs = [math.exp(-2 * float((z[i] - z[j]).pow(2).sum())) for i, j in itertools.combinations(range(12), 2)]
    assert symcl.uniformity(z).item() == pytest.approx(math.log(sum(pairs) / len(pairs)), rel=1e-5)


def test_uniformity_is_zero_when_collapsed_and_negative_when_spread():
    assert symcl.uniformity(torch.ones(20, 8)).item() == pytest.approx(0.0, abs=1e-6)
    spread = torch.randn(500, 32, generator=torch.Generator().manual_seed(0))
    assert symcl.uniformity(spread).item() < -3.5  # -2t = -4 is the large-d limit


def test_effective_rank_extremes():
    assert symcl.effective_rank(torch.ones(50, 16)) == pytest.approx(1.0, abs=1e-6)
    assert symcl.effective_rank(torch.eye(16)) == pytest.approx(16.0, rel=1e-6)
    two = torch.zeros(10, 8)
    two[:5, 0] = 1
    two[5:, 1] = 1
    assert symcl.effective_rank(two) == pytest.approx(2.0, rel=1e-6)


def test_metrics_accept_the_numpy_arrays_embed_returns():
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    z2 = z + 0.1
    as_numpy = z.numpy()[::-1].copy()[::-1]  # negative strides too
    assert symcl.alignment(z.numpy(), z2.numpy().astype(np.float32)).item() == pytest.approx(
        symcl.alignment(z, z2).item()
    )
    assert symcl.uniformity(as_numpy).item() == pytest.approx(symcl.uniformity(z).item())
    assert symcl.effective_rank(z.numpy().astype(np.float64)) == pytest.approx(symcl.effective_rank(z))


def test_metrics_refuse_integer_numpy_arrays():
    z = np.ones((3, 4), dtype=np.int64)
    for metric, name in ((symcl.uniformity, "uniformity"), (symcl.effective_rank, "effective_rank")):
        with pytest.raises(
            TypeError, match=f"The 'z' parameter of {name} must be floating point. Got a numpy array of int64"
        ):
            metric(z)
    with pytest.raises(
        TypeError, match="The 'z1' parameter of alignment must be floating point. Got a numpy array of int64"
    ):
        symcl.alignment(z, z)


def test_metric_input_validation():
    with pytest.raises(ValueError, match="'z1' and 'z2'.*same shape"):
        symcl.alignment(torch.randn(3, 4), torch.randn(4, 4))
    with pytest.raises(ValueError, match=r"'z'.*N >= 2"):
        symcl.uniformity(torch.randn(1, 4))
    with pytest.raises(TypeError, match="'z'.*torch.Tensor"):
        symcl.effective_rank([[1.0]])
    with pytest.raises(ValueError, match="'t'.*> 0"):
        symcl.uniformity(torch.randn(3, 4), t=0)
    nan = torch.tensor([[float("nan"), 0.0], [1.0, 0.0]])
    for metric in (symcl.uniformity, symcl.effective_rank, lambda z: symcl.alignment(z, z)):
        with pytest.raises(ValueError, match="must be finite. It holds NaN or infinite values"):
            metric(nan)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_uniformity_in_half_precision(dtype):
    z = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    assert symcl.uniformity(z.to(dtype)).float().item() == pytest.approx(symcl.uniformity(z).item(), abs=0.02)


def test_alignment_and_uniformity_refuse_integer_embeddings():
    z = torch.ones(3, 4, dtype=torch.long)
    with pytest.raises(TypeError, match="The 'z1' parameter of alignment must be floating point. Got torch.int64"):
        symcl.alignment(z, z)
    with pytest.raises(TypeError, match="The 'z2' parameter of alignment must be floating point. Got torch.int64"):
        symcl.alignment(z.float(), z)
    with pytest.raises(TypeError, match="The 'z' parameter of uniformity must be floating point. Got torch.int64"):
        symcl.uniformity(z)


@pytest.mark.parametrize("value", ["2", None, True])
def test_alignment_and_uniformity_refuse_non_numeric_exponents(value):
    z = torch.randn(3, 4)
    with pytest.raises(TypeError, match="The 'alpha' parameter of alignment must be a real number"):
        symcl.alignment(z, z, alpha=value)
    with pytest.raises(TypeError, match="The 't' parameter of uniformity must be a real number"):
        symcl.uniformity(z, t=value)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0, -1.0])
def test_alignment_and_uniformity_refuse_non_finite_or_non_positive_exponents(value):
    z = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"The 'alpha' parameter of alignment must be finite and > 0\. Got"):
        symcl.alignment(z, z, alpha=value)
    with pytest.raises(ValueError, match=r"The 't' parameter of uniformity must be finite and > 0\. Got"):
        symcl.uniformity(z, t=value)
