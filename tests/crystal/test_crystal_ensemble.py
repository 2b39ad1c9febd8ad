"""PatchEnsemble: members' unit embeddings concatenated, one InfoNCE per member, `--members` in the CLI."""

import pytest
import torch

from symcl.cli import main
from symcl.domains import crystal
from symcl.domains.crystal.models import MemberwiseObjective
from symcl.training import contrastive_objective
from symcl.views import ViewBatch


@pytest.fixture
def ensemble():
    torch.manual_seed(0)
    return crystal.PatchEnsemble(members=3, dim=24, channels=4, patch_size=40)


def test_embedding_is_the_members_unit_vectors_concatenated(ensemble):
    x = torch.rand(5, 1, 40, 40)
    z = ensemble(x)
    assert z.shape == (5, 24)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(5))
    parts = [torch.nn.functional.normalize(member(x), dim=1) for member in ensemble.members]
    torch.testing.assert_close(z, torch.cat(parts, dim=1) / 3**0.5)
    # The cosine of two embeddings is the mean of the members' cosines.
    a, b = ensemble(x[:1]), ensemble(x[1:2])
    cosines = [torch.nn.functional.cosine_similarity(m(x[:1]), m(x[1:2])) for m in ensemble.members]
    torch.testing.assert_close((a * b).sum(dim=1), torch.stack(cosines).mean(dim=0))


def test_members_start_from_different_weights_and_the_config_round_trips(ensemble):
    first, second = (member.features[0][0].weight for member in ensemble.members[:2])
    assert not torch.equal(first, second)
    assert ensemble.config == {"kind": "patch_ensemble", "members": 3, "dim": 24, "channels": 4, "patch_size": 40,
                               "pixel_size": 0.3}  # fmt: skip
    rebuilt = crystal.build_encoder(ensemble.config)
    rebuilt.load_state_dict(ensemble.state_dict())
    x = torch.rand(2, 40, 40)
    torch.testing.assert_close(rebuilt(x), ensemble(x))


@pytest.mark.parametrize(
    ("options", "message"),
    [({"members": 1}, "'members' parameter of PatchEnsemble must be an integer >= 2"),
     ({"members": 3, "dim": 16}, "'dim' parameter of PatchEnsemble must be a multiple of members (3)")],
)  # fmt: skip
def test_bad_sizes_are_refused(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        crystal.PatchEnsemble(**options)


def test_each_member_learns_from_its_own_loss_only(ensemble):
    objective = contrastive_objective(8, temperature=0.1)
    memberwise = MemberwiseObjective(objective, 3)
    x1, x2 = torch.rand(6, 1, 40, 40), torch.rand(6, 1, 40, 40)
    batch = ViewBatch(x1, x2)
    z1, z2 = ensemble(x1), ensemble(x2)
    own = [objective(a, b, batch) for a, b in zip(z1.chunk(3, dim=1), z2.chunk(3, dim=1), strict=True)]
    loss = memberwise(z1, z2, batch)
    torch.testing.assert_close(loss, torch.stack(own).mean())
    # The gradient of member 0 is that of its own loss (divided by the number of members).
    (expected,) = torch.autograd.grad(own[0] / 3, ensemble.members[0].head[-1].weight, retain_graph=True)
    (got,) = torch.autograd.grad(loss, ensemble.members[0].head[-1].weight)
    torch.testing.assert_close(got, expected)


def test_cli_trains_and_loads_an_ensemble(tmp_path, capsys):
    out = tmp_path / "ensemble"
    code = main(["crystal", "train", "--out", str(out), "--steps", "2", "--eval-every", "0", "--checkpoint-every", "0",
                 "--quiet", "--materials", "MoS2", "--patch-size", "40", "--pixel-size", "0.3", "--channels", "4",
                 "--batch-size", "8", "--members", "2", "--dim", "8"])  # fmt: skip
    assert code == 0
    assert crystal.read_model_config(out)["model"]["kind"] == "patch_ensemble"
    model = crystal.load_model(out)
    assert isinstance(model, crystal.PatchEnsemble) and model(torch.rand(3, 40, 40)).shape == (3, 8)
    capsys.readouterr()
    code = main(["crystal", "train", "--out", str(tmp_path / "bad"), "--quiet", "--patch-size", "40",
                 "--pixel-size", "0.3", "--members", "3", "--dim", "8"])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "'dim' parameter of PatchEnsemble must be a multiple of members (3). Got 8 instead." in error
