"""The protein encoder, the distance head, the loss and the predicted distance matrix."""

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein.encoder import check_codes
from symcl.views import ViewBatch


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return protein.ProteinCNN(dim=8, channels=16, blocks=2).eval()


@pytest.fixture(scope="module")
def family():
    return protein.read_sequences(data_path("protein", "COX2_TM.fa"))


def test_head_is_symmetric_with_zero_self_distance_exactly(generator):
    z = torch.randn(40, 16, generator=generator)
    d = protein.cross_distances(z, z)
    assert d.shape == (40, 40)
    assert torch.equal(d, d.T)
    assert torch.equal(torch.diagonal(d), torch.zeros(40))
    assert (d[~torch.eye(40, dtype=torch.bool)] > 0).all()
    z2 = torch.randn(40, 16, generator=generator)
    assert torch.equal(protein.pair_distance(z, z2), protein.pair_distance(z2, z))
    assert torch.equal(protein.pair_distance(z, z), torch.zeros(40))
    # All-vs-all agrees with the pair head; it is the squared Euclidean distance.
    torch.testing.assert_close(protein.cross_distances(z, z2).diagonal(), protein.pair_distance(z, z2))
    assert protein.pair_distance(torch.zeros(1, 2), torch.tensor([[3.0, 4.0]])).item() == 25.0
    with pytest.raises(ValueError, match="same shape"):
        protein.pair_distance(z, z2[:3])
    with pytest.raises(ValueError, match=r"\(N, d\) and \(M, d\)"):
        protein.cross_distances(z, z2[:, :3])


def test_encode_batch_pads_after_each_sequence():
    codes = protein.encode_batch(["ACD", "W-Y", "K"])
    assert codes.dtype == torch.int64 and codes.shape == (3, 3)
    pad = protein.PAD_CODE
    assert codes.tolist() == [[0, 4, 3], [17, 18, pad], [11, pad, pad]]
    with pytest.raises(ValueError, match="at least one sequence"):
        protein.encode_batch([])


def test_encoder_shape_gradients_and_no_batch_norm(model):
    codes = protein.encode_batch(["MKVLAAGIVW", "MKV", "ACDEFGHIKLMNPQRSTVWYBZX"])
    z = model(codes)
    assert z.shape == (3, 8) and z.dtype == torch.float32 and torch.isfinite(z).all()
    trainable = protein.ProteinCNN(dim=8, channels=16, blocks=2)
    trainable(codes).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainable.parameters())
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in trainable.modules())


def test_embedding_does_not_depend_on_the_batch(model):
    model = copy.deepcopy(model)
    with torch.no_grad():  # trained norms have biases; fresh ones' zeros would hide a leak from the padding
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.bias.normal_()
    alone = model(protein.encode_batch(["MKVLAAGIVW"]))
    batched = model(protein.encode_batch(["MKVLAAGIVW", "ACDEFGHIKLMNPQRSTVWYACDEFGHIKLM"]))
    torch.testing.assert_close(alone[0], batched[0], atol=1e-5, rtol=1e-5)


def test_segment_pooling_is_batch_independent_and_local():
    from symcl.domains.protein.encoder import segment_weights

    torch.manual_seed(1)
    segmented = protein.ProteinCNN(dim=8, channels=16, blocks=1, segments=6).eval()
    assert segmented.config["segments"] == 6
    short, long = "MKVLAAGIVW", "ACDEFGHIKLMNPQRSTVWYACDEFGHIKLMKK"
    alone = segmented(protein.encode_batch([short]))
    batched = segmented(protein.encode_batch([long, short, "W"]))
    torch.testing.assert_close(alone[0], batched[1], atol=1e-5, rtol=1e-5)
    # Weights: one row per segment summing to 1, zero on padding; S = 1 is the plain mean.
    mask = (protein.encode_batch([short, long]) != protein.PAD_CODE).unsqueeze(1).float()
    weights = segment_weights(mask, 6)
    assert weights.shape == (2, 6, len(long))
    torch.testing.assert_close(weights.sum(dim=2), torch.ones(2, 6))
    assert (weights[0, :, len(short) :] == 0).all() and (weights >= 0).all()
    torch.testing.assert_close(segment_weights(mask, 1), mask / mask.sum(dim=2, keepdim=True))
    # The first segment sees only the start of the sequence, the last only its end.
    assert (weights[1, 0, len(long) // 3 :] == 0).all() and (weights[1, -1, : 2 * len(long) // 3] == 0).all()


def test_encoder_rejects_bad_codes(model):
    pad = protein.PAD_CODE
    with pytest.raises(ValueError, match="padding only after the end"):
        model(torch.tensor([[1, pad, 2]]))
    with pytest.raises(ValueError, match=r"lie in 0\.\.23"):
        model(torch.tensor([[1, 30]]))
    with pytest.raises(ValueError, match="integer codes of shape"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="at least one residue"):
        check_codes(torch.tensor([[pad, pad]]))
    with pytest.raises(TypeError, match="tensor of codes"):
        model([[1, 2]])


def test_encoder_config_rebuilds_and_pickles(model):
    rebuilt = protein.build_encoder(model.config)
    rebuilt.load_state_dict(model.state_dict())
    codes = protein.encode_batch(["MKVLAAGIVW", "WWYY"])
    torch.testing.assert_close(rebuilt.eval()(codes), model(codes))
    torch.testing.assert_close(pickle.loads(pickle.dumps(model))(codes), model(codes))
    with pytest.raises(ValueError, match="'kind' must be one of"):
        protein.build_encoder({"kind": "transformer"})
    with pytest.raises(ValueError, match="Bad options"):
        protein.build_encoder({"kind": "cnn", "width": 3})
    with pytest.raises(ValueError, match="'kernel_size' parameter of ProteinCNN must be odd"):
        protein.ProteinCNN(kernel_size=4)
    with pytest.raises(ValueError, match="'dim' parameter of ProteinCNN must be an integer >= 1. Got 0"):
        protein.ProteinCNN(dim=0)


def test_predicted_distance_matrix_equals_pairwise_head_calls(model, family):
    d = protein.predicted_distance_matrix(model, family, batch_size=4, max_distance=None)
    n = len(family)
    assert d.shape == (n, n) and d.dtype == np.float64
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)
    z = torch.from_numpy(protein.embed_sequences(model, family, batch_size=4))
    first, second = np.triu_indices(n, k=1)
    pairs = protein.pair_distance(z[first], z[second]).double().numpy()
    np.testing.assert_allclose(d[first, second], pairs, rtol=1e-5, atol=1e-7)
    # Each pair through the model on its own gives the same value.
    with torch.no_grad():
        for i, j in [(0, 1), (3, 9), (10, 2)]:
            single = protein.pair_distance(
                model(protein.encode_batch([family[i]])), model(protein.encode_batch([family[j]]))
            )
            assert d[i, j] == pytest.approx(float(single), rel=1e-4, abs=1e-6)


def test_predicted_distance_matrix_caps_and_keeps_the_order(model, family):
    uncapped = protein.predicted_distance_matrix(model, family, max_distance=None)
    cap = float(np.median(uncapped[uncapped > 0]))
    capped = protein.predicted_distance_matrix(model, family, max_distance=cap)
    np.testing.assert_allclose(capped, np.minimum(uncapped, cap))
    order = np.arange(len(family))[::-1]
    reversed_input = [family[i] for i in order]  # a list of str works too
    permuted = protein.predicted_distance_matrix(model, reversed_input, max_distance=None)
    np.testing.assert_allclose(permuted, uncapped[np.ix_(order, order)], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="'max_distance'"):
        protein.predicted_distance_matrix(model, family, max_distance=0.0)
    with pytest.raises(TypeError, match="ProteinSequences or a list of str"):
        protein.embed_sequences(model, "MKV")


def test_distance_loss_is_zero_on_target_and_one_sided_at_the_cap():
    target = torch.tensor([0.0, 0.3, 1.2, 3.0, 3.0])
    assert protein.distance_loss(target.clone(), target).item() == 0.0
    above_cap = torch.tensor([0.0, 0.3, 1.2, 7.5, 3.2])
    assert protein.distance_loss(above_cap, target, max_distance=3.0).item() == 0.0
    below_cap = torch.tensor([0.0, 0.3, 1.2, 1.0, 3.0])
    assert protein.distance_loss(below_cap, target, max_distance=3.0).item() > 0.0
    # Log space: the same absolute error costs more on a close pair than on a distant one.
    close = protein.distance_loss(torch.tensor([0.2]), torch.tensor([0.1]))
    far = protein.distance_loss(torch.tensor([2.1]), torch.tensor([2.0]))
    assert close > far
    predicted = torch.tensor([0.5, 2.0], requires_grad=True)
    protein.distance_loss(predicted, torch.tensor([1.0, 1.0])).backward()
    assert predicted.grad[0] < 0 < predicted.grad[1]


def test_distance_regression_objective(generator):
    objective = protein.DistanceRegression(max_distance=3.0, delta=0.1)
    z1, z2 = torch.randn(6, 4, generator=generator), torch.randn(6, 4, generator=generator)
    target = torch.rand(6, generator=generator)
    batch = ViewBatch(None, None, target=target)
    loss = objective(z1, z2, batch)
    assert loss.ndim == 0 and loss.item() == pytest.approx(
        protein.distance_loss(protein.pair_distance(z1, z2), target).item()
    )
    assert objective(z2, z1, batch).item() == loss.item()  # symmetric in the two views
    with pytest.raises(ValueError, match="needs batches with a 'target'"):
        objective(z1, z2, ViewBatch(None, None))
    with pytest.raises(ValueError, match="'delta' parameter of DistanceRegression"):
        protein.DistanceRegression(delta=0)


def test_optional_contrastive_term_on_near_pairs(generator):
    import symcl

    z1, z2 = torch.randn(6, 4, generator=generator), torch.randn(6, 4, generator=generator)
    target = torch.tensor([0.05, 0.1, 0.15, 1.0, 2.0, 3.0])
    exclude = torch.zeros(6, 6, dtype=torch.bool)
    exclude[0, 1] = exclude[1, 0] = True
    batch = ViewBatch(None, None, target=target, exclude=exclude)
    plain = protein.DistanceRegression()(z1, z2, batch)
    objective = protein.DistanceRegression(contrastive_weight=0.5, near_distance=0.2, temperature=0.2)
    expected = plain + 0.5 * symcl.info_nce(z1[:3], z2[:3], temperature=0.2, exclude=exclude[:3, :3])
    torch.testing.assert_close(objective(z1, z2, batch), expected)
    far = ViewBatch(None, None, target=torch.tensor([0.05, 1.0, 1.0, 1.0, 2.0, 3.0]))  # one near pair: no term
    torch.testing.assert_close(objective(z1, z2, far), protein.DistanceRegression()(z1, z2, far))
    assert objective.settings()["contrastive_weight"] == 0.5
    with pytest.raises(
        ValueError, match="'contrastive_weight' parameter of DistanceRegression must be a finite number >= 0"
    ):
        protein.DistanceRegression(contrastive_weight=-1.0)


def test_the_evaluator_finds_the_capped_pairs_when_the_cap_is_not_a_float32(model):
    from symcl.domains.protein.model import regression_evaluator

    families = protein.simulated_families(3, np.random.default_rng(0), max_distance=2.3)  # 2.3 rounds down in float32
    sampler = protein.PairSampler(families, max_distance=2.3)
    metrics = regression_evaluator(sampler, 64, seed=0)(model)
    assert np.isfinite(metrics["cap_recall"])  # NaN when every cross-family pair counted as below the cap


def test_the_evaluator_gives_each_layer_back_its_own_mode(model):
    from symcl.domains.protein.model import regression_evaluator

    sampler = protein.PairSampler(protein.simulated_families(2, np.random.default_rng(0)))
    model.train()
    frozen = next(iter(model.children()))
    frozen.eval()  # e.g. a pretrained part the caller keeps in eval mode while the rest trains
    regression_evaluator(sampler, 16, seed=0)(model)
    assert model.training and not frozen.training


def test_shipped_pretrained_model_gives_a_symmetric_zero_diagonal_matrix(family):
    directory = protein.pretrained_directory()
    assert (directory / "model.safetensors").stat().st_size <= 5 * 2**20
    model = protein.load_pretrained()
    assert not model.training and protein.read_model_config(directory)["model"]["segments"] == 16
    d = protein.predicted_distance_matrix(model, family)
    n = len(family)
    assert d.shape == (n, n) and np.isfinite(d).all()
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)
    off = d[~np.eye(n, dtype=bool)]
    assert (off > 0).all() and (off <= 3.0).all()
    # Sequences of one family (COX2_TM) come out closer to each other than to globins.
    globins = protein.read_sequences(data_path("protein", "globins45.fa"))
    both = protein.predicted_distance_matrix(model, [*family.sequences, *globins.sequences], max_distance=None)
    within = both[:n, :n][np.triu_indices(n, k=1)]
    assert np.median(within) < np.median(both[:n, n:])


def test_load_model_rejects_other_directories(tmp_path):
    from symcl.atomic import write_json
    from symcl.errors import UserInputError

    with pytest.raises(UserInputError, match="not a model directory"):
        protein.load_model(tmp_path / "missing")
    with pytest.raises(UserInputError, match="config.json: missing"):
        protein.load_model(tmp_path)
    write_json(tmp_path / "config.json", {"model": {"kind": "strand_invariant", "dim": 8}})
    with pytest.raises(UserInputError, match="not a protein model directory"):
        protein.load_model(tmp_path)
    write_json(tmp_path / "config.json", {"model": {"kind": "cnn", "dim": 8}})
    with pytest.raises(UserInputError, match="model.safetensors"):
        protein.load_model(tmp_path)
