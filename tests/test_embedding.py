import numpy as np
import pytest
import torch
from torch import nn

import symcl


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.Linear(8, 3))


def test_array_input_keeps_order_dtype_and_eval_mode():
    model = _model().double().train()
    data = torch.randn(23, 5, dtype=torch.float64)
    out = symcl.embed(model, data, batch_size=4, progress=False)
    assert model.training  # the caller's mode is restored
    with torch.no_grad():
        expected = model.eval()(data).float().numpy()  # dropout off: embed ran in eval mode
    assert out.dtype == np.float32 and out.shape == (23, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(symcl.embed(model, data.numpy(), batch_size=100, progress=False), out, rtol=1e-6)
    assert not model.training


def test_every_submodules_mode_is_restored():
    model = _model().train()
    model[1].eval()  # the caller froze one layer; embed must not unfreeze it
    symcl.embed(model, torch.randn(4, 5), progress=False)
    assert [m.training for m in model] == [True, False, True]


def test_a_models_own_train_method_runs_when_its_mode_is_restored():
    class Averaged(torch.nn.Linear):  # eval() swaps in averaged weights, train() swaps them back
        def train(self, mode=True):
            self.swapped = not mode
            return super().train(mode)

    model = Averaged(2, 2).train()
    symcl.embed(model, torch.ones(3, 2), progress=False)
    assert model.training and not model.swapped


def test_evaluation_mode_restores_modes_even_after_an_error():
    from symcl.embedding import evaluation_mode

    model = _model().eval()
    model[0].train()
    with pytest.raises(RuntimeError, match="inside"), evaluation_mode(model):
        assert not any(m.training for m in model.modules())
        raise RuntimeError("inside")
    assert [m.training for m in model] == [True, False, False] and not model.training


def test_numpy_float64_input_meets_float32_weights():
    model = _model()
    data = np.random.default_rng(0).standard_normal((9, 5))  # numpy's default dtype
    out = symcl.embed(model, data, progress=False)
    np.testing.assert_allclose(out, symcl.embed(model, torch.from_numpy(data).float(), progress=False), rtol=1e-6)


def test_sequence_iterator_and_dataloader_inputs_agree():
    model = _model()
    data = torch.randn(17, 5)
    reference = symcl.embed(model, data, progress=False)
    as_list = symcl.embed(model, list(data), batch_size=5, progress=False)
    as_iterator = symcl.embed(model, (data[i : i + 3] for i in range(0, 17, 3)), progress=False)
    for other in (as_list, as_iterator):
        np.testing.assert_allclose(other, reference, rtol=1e-6, atol=1e-7)


def test_torch_datasets_and_loaders_give_their_first_element_the_input():
    model = _model()
    x, y = torch.randn(17, 5), torch.arange(17)
    reference = symcl.embed(model, x, progress=False)
    TensorDataset, DataLoader = torch.utils.data.TensorDataset, torch.utils.data.DataLoader
    inputs = [
        TensorDataset(x),
        TensorDataset(x, y),
        DataLoader(TensorDataset(x), batch_size=6),
        DataLoader(TensorDataset(x, y), batch_size=6),
        DataLoader(_Batches(x, y), batch_size=None),  # an IterableDataset: unsized, no progress total
    ]
    for data in inputs:
        np.testing.assert_allclose(
            symcl.embed(model, data, batch_size=5, progress=False), reference, rtol=1e-6, atol=1e-7
        )


def test_tuples_from_other_sources_go_to_the_model_whole():
    both = _BothOf(_model())
    x = torch.randn(7, 5)
    out = symcl.embed(both, [(row, row) for row in x], batch_size=3, progress=False)
    np.testing.assert_allclose(out, 2 * symcl.embed(both.model, x, progress=False), rtol=1e-6)


class _Batches(torch.utils.data.IterableDataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __iter__(self):
        return ((self.x[i : i + 4], self.y[i : i + 4]) for i in range(0, len(self.x), 4))


class _BothOf(nn.Module):
    """Takes a pair of inputs, as a model of several tensors does."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        first, second = batch
        return self.model(first) + self.model(second)


def test_output_can_go_to_a_memory_map(tmp_path):
    model = _model()
    data = torch.randn(10, 5)
    target = np.lib.format.open_memmap(tmp_path / "z.npy", mode="w+", dtype=np.float32, shape=(10, 3))
    out = symcl.embed(model, iter([data[:4], data[4:]]), out=target, progress=False)
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), symcl.embed(model, data, progress=False), rtol=1e-6)
    assert out.shape == (10, 3)
    small = np.zeros((5, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="'out' array of embed has 5 rows"):
        symcl.embed(model, data, out=small, progress=False)


def test_no_gradient_is_tracked():
    model = _model()
    symcl.embed(model, torch.randn(4, 5), progress=False)
    assert all(p.grad is None for p in model.parameters())


def test_bad_inputs():
    model = _model()
    with pytest.raises(ValueError, match="'batch_size' parameter of embed must be an integer >= 1. Got 0"):
        symcl.embed(model, torch.randn(3, 5), batch_size=0)
    with pytest.raises(ValueError, match="holds no samples"):
        symcl.embed(model, torch.randn(0, 5), progress=False)
    with pytest.raises(TypeError, match="'data' parameter of embed"):
        symcl.embed(model, 3.0)


def test_numpy_integer_batch_size():
    model = _model()
    data = torch.randn(5, 5)
    out = symcl.embed(model, data, batch_size=np.int64(2), progress=False)
    np.testing.assert_allclose(out, symcl.embed(model, data, batch_size=2, progress=False))
    with pytest.raises(ValueError, match="'batch_size' parameter of embed must be an integer >= 1. Got True"):
        symcl.embed(model, data, batch_size=True)


def test_out_must_be_a_floating_array():
    model, data = _model(), torch.randn(5, 5)
    with pytest.raises(TypeError, match="The 'out' parameter of embed must have a floating dtype. Got int32 instead."):
        symcl.embed(model, data, out=np.zeros((5, 3), np.int32), progress=False)
    with pytest.raises(TypeError, match="The 'out' parameter of embed must be a numpy array. Got list instead."):
        symcl.embed(model, data, out=[[0.0] * 3] * 5, progress=False)


class _Returns(nn.Module):
    """A model whose output is ``make(batch)``."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def forward(self, x):
        return self.make(x)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda x: x[:, 0], ValueError, r"must return a tensor of shape \(B, d\). It returned shape \(4,\)"),
        (
            lambda x: x[:, :6].reshape(-1, 3, 2),
            ValueError,
            r"must return a tensor of shape \(B, d\). It returned shape \(4, 3, 2\)",
        ),
        (lambda x: (x, x), TypeError, r"must return a tensor of shape \(B, d\). It returned a tuple"),
    ],
)
def test_model_output_must_be_a_matrix(make, error, match):
    with pytest.raises(error, match="The 'model' parameter of embed " + match):
        symcl.embed(_Returns(make), torch.randn(4, 6), progress=False)


def test_no_samples_is_an_error_with_or_without_out():
    for out in (None, np.zeros((3, 3), np.float32)):
        with pytest.raises(ValueError, match="The 'data' parameter of embed holds no samples."):
            symcl.embed(_model(), torch.zeros(0, 5), out=out, progress=False)
