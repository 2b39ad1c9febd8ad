"""PatchCNN: shapes, no batch statistics, per-patch intensity normalisation, gradients."""

import pytest
import torch

from symcl.domains import crystal


@pytest.fixture
def model():
    torch.manual_seed(0)
    return crystal.PatchCNN(dim=12, channels=8, patch_size=40)


def test_shapes_and_layouts(model):
    x = torch.rand(5, 1, 40, 40)
    assert model(x).shape == (5, 12)
    torch.testing.assert_close(model(x[:, 0]), model(x))  # (B, P, P) works too
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_embedding_does_not_depend_on_the_rest_of_the_batch(model, mode):
    model.train(mode == "train")
    patches = torch.rand(8, 1, 40, 40)
    alone = model(patches[:1])
    with_others = model(torch.cat([patches[:1], 100 * torch.rand(7, 1, 40, 40)]))[:1]
    torch.testing.assert_close(alone, with_others, rtol=1e-5, atol=1e-5)


def test_dose_and_background_do_not_change_the_embedding(model):
    model.eval()
    patch = torch.rand(3, 1, 40, 40)
    torch.testing.assert_close(model(patch), model(7.5 * patch + 300.0), rtol=1e-4, atol=1e-4)
    flat = crystal.normalise_patches(torch.full((2, 1, 16, 16), 5.0))
    assert torch.equal(flat, torch.zeros_like(flat))


def test_gradients_flow_and_config_round_trip(model):
    z = model(torch.rand(4, 1, 40, 40))
    z.square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    rebuilt = crystal.build_encoder(model.config)
    assert (
        rebuilt.config
        == model.config
        == {"kind": "patch_cnn", "dim": 12, "channels": 8, "patch_size": 40, "pixel_size": 0.3}
    )
    with pytest.raises(ValueError, match="Unknown crystal encoder kind"):
        crystal.build_encoder({"kind": "vit"})
    with pytest.raises(ValueError, match=r"shape \(B, 1, P, P\)"):
        model(torch.rand(2, 3, 40, 40))
    with pytest.raises(ValueError, match="'channels' parameter of PatchCNN"):
        crystal.PatchCNN(channels=0)
