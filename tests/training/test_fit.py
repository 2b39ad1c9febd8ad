import dataclasses
import json

import pytest
import torch
from toy_setup import AlignmentOnly, NaNAt, NaNGradientAt, toy_run

from symcl.checkpoint import load_state
from symcl.errors import TrainingError
from symcl.training import Callback, TrainConfig, fit, view_evaluator
from symcl.training.schedule import warmup_cosine_factor


def test_training_improves_the_toy_representation(tmp_path):
    model, views, objective, config = toy_run(steps=150, lr=3e-3)
    state = fit(model, views, objective, config, out_dir=tmp_path, progress=False)
    losses = [s["loss"] for s in state.history["steps"]]
    evaluations = state.history["evaluations"]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.2
    assert evaluations[-1]["alignment"] < evaluations[0]["alignment"]
    # the toy's views carry class labels, so the downstream curve is recorded, and it rises
    assert evaluations[-1]["knn_accuracy"] > evaluations[0]["knn_accuracy"]
    assert {p.name for p in tmp_path.iterdir()} >= {
        "model.safetensors",
        "config.json",
        "history.json",
        "checkpoints",
        "training_curves.png",
    }
    written = json.loads((tmp_path / "history.json").read_text())
    assert len(written["steps"]) == 150 and len(written["evaluations"]) == 15
    assert json.loads((tmp_path / "config.json").read_text())["train"]["steps"] == 150


def test_history_records_lr_schedule_and_learnable_temperature():
    model, views, objective, config = toy_run(steps=30, warmup_steps=10, lr=1e-2, eval_every=0)
    state = fit(model, views, objective, config, progress=False)
    steps = state.history["steps"]
    assert [s["step"] for s in steps] == list(range(1, 31))
    assert steps[0]["lr"] == pytest.approx(1e-2 * warmup_cosine_factor(1, 10, 30))
    assert steps[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    temperatures = {round(s["temperature"], 6) for s in steps}
    assert len(temperatures) > 1  # it is learned
    assert state.history["evaluations"] == []


def test_default_warmup_is_50_steps_or_a_tenth_of_a_shorter_run():
    # as the CLI's: a 20-step run that warmed up over 50 steps would never reach its learning rate
    assert [TrainConfig(steps=n).effective_warmup_steps for n in (20, 300, 2000)] == [2, 30, 50]


def test_warmup_cosine_factor():
    assert [warmup_cosine_factor(s, 4, 12) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert warmup_cosine_factor(8, 4, 12) == pytest.approx(0.5)
    assert warmup_cosine_factor(12, 4, 12) == pytest.approx(0.0)
    assert warmup_cosine_factor(0, 0, 10) == pytest.approx(1.0)


def test_non_finite_loss_stops_naming_the_step_and_keeps_the_checkpoint(tmp_path):
    model, views, objective, config = toy_run(steps=60)
    with pytest.raises(TrainingError, match=r"loss is nan at step 25; the last good checkpoint is .*step-00000020"):
        fit(model, views, NaNAt(objective, 25), config, out_dir=tmp_path, progress=False)
    saved = load_state(tmp_path / "checkpoints" / "step-00000020.safetensors")
    assert saved["step"] == 20
    assert all(torch.isfinite(t).all() for t in saved["model"].values())


@pytest.mark.parametrize("grad_clip", [1.0, None])
def test_non_finite_gradients_stop_before_the_weights_are_changed(tmp_path, grad_clip):
    model, views, objective, config = toy_run(steps=60, grad_clip=grad_clip, eval_every=0)
    with pytest.raises(TrainingError, match=r"gradient norm is nan at step 25 .*step-00000020"):
        fit(model, views, NaNGradientAt(objective, 25), config, out_dir=tmp_path, progress=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_early_stopping_catches_a_collapsing_run_and_restores_the_best_weights():
    model, views, _, config = toy_run(steps=2000, lr=3e-3, eval_every=5, early_stopping_patience=3)
    state = fit(model, views, AlignmentOnly(), config, progress=False)
    stop = state.history["early_stop"]
    assert state.step < 2000
    assert stop["collapsed"] and "alignment improved" in stop["reason"]
    evaluations = {e["step"]: e for e in state.history["evaluations"]}
    assert evaluations[state.step]["uniformity"] > evaluations[stop["best_step"]]["uniformity"]
    # The restored weights are those of the best evaluation.
    again = view_evaluator(views, config.eval_batch_size, seed=config.seed, device=torch.device("cpu"))(model)
    assert again["uniformity"] == pytest.approx(evaluations[stop["best_step"]]["uniformity"], rel=1e-5)


def test_view_evaluator_restores_every_submodules_mode():
    model, views, _, config = toy_run()
    model.train()
    frozen = next(m for m in model.modules() if m is not model)
    frozen.eval()
    view_evaluator(views, 8, seed=0, device=torch.device("cpu"))(model)
    assert model.training and not frozen.training


def test_early_stopping_lets_a_healthy_run_finish():
    # Uniformity peaks early and gives back about 5 % while alignment tightens: no collapse.
    state = fit(*toy_run(steps=300, eval_every=20, batch_size=64, early_stopping_patience=3), progress=False)
    assert state.step == 300 and state.history["early_stop"] is None


def test_callbacks_see_every_step_and_can_stop_the_run():
    seen = []

    class StopAt(Callback):
        def on_step_end(self, state, loss, metrics):
            seen.append((state.step, metrics is not None))
            if state.step == 12:
                state.stop_reason = "enough"

    model, views, objective, config = toy_run(steps=50, eval_every=4)
    state = fit(model, views, objective, config, callbacks=[StopAt()], progress=False)
    assert state.step == 12 and state.stop_reason == "enough"
    assert seen == [(s, s % 4 == 0) for s in range(1, 13)]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=0), "'steps'.*>= 1. Got 0"),
        (dict(lr=-1.0), "'lr'.*>= 0. Got -1.0"),
        (dict(grad_clip=0.0), "'grad_clip'"),
        (dict(batch_size=1), "'batch_size'.*>= 2"),
        (dict(early_stopping_patience=0), "'early_stopping_patience'"),
    ],
)
def test_bad_config_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_numpy_integers_are_integers_and_are_stored_as_python_ints():
    import numpy as np

    config = TrainConfig(
        steps=np.int64(10), seed=np.uint32(3), warmup_steps=np.int32(2), early_stopping_patience=np.int8(2)
    )
    assert (config.steps, config.seed, config.warmup_steps, config.early_stopping_patience) == (10, 3, 2, 2)
    assert json.loads(json.dumps(dataclasses.asdict(config)))["steps"] == 10  # JSON takes no numpy integers
    with pytest.raises(ValueError, match="'early_stopping_patience'.*None or an integer >= 1. Got True"):
        TrainConfig(early_stopping_patience=True)


def test_an_evaluator_may_return_tensors_and_numpy_scalars(tmp_path):
    import numpy as np

    def evaluate(model):
        return {"tensor": torch.tensor(0.5), "numpy": np.float32(0.25), "count": np.int64(3), "plain": 1.0}

    model, views, objective, config = toy_run(steps=4, eval_every=2, checkpoint_every=2)
    state = fit(model, views, objective, config, out_dir=tmp_path, evaluate=evaluate, progress=False)
    written = json.loads((tmp_path / "history.json").read_text())["evaluations"]
    assert written[-1] == {"step": 4, "tensor": 0.5, "numpy": 0.25, "count": 3, "plain": 1.0}
    assert state.history["evaluations"][-1] == written[-1]


@pytest.mark.parametrize(
    "result, match",
    [
        ({"acc": torch.ones(3)}, r"'evaluate'.*For the key 'acc' it returned a Tensor of shape \(3,\)"),
        ({"acc": "high"}, r"'evaluate'.*For the key 'acc' it returned a str\."),
        ({0: 1.0}, r"'evaluate'.*metric names \(str\) as keys. Got the key 0 \(int\)"),
        ([1.0], r"'evaluate'.*must return a dict.*It returned a list"),
    ],
)
def test_an_evaluator_returning_anything_else_is_refused_at_the_first_evaluation(tmp_path, result, match):
    model, views, objective, config = toy_run(steps=4, eval_every=2, checkpoint_every=2)
    with pytest.raises(TypeError, match=match):
        fit(model, views, objective, config, out_dir=tmp_path, evaluate=lambda m: result, progress=False)
    assert not list(tmp_path.glob("checkpoints/step-*"))  # refused before the first checkpoint


def test_a_plain_function_objective_is_refused_naming_the_parameter():
    model, views, _, config = toy_run(steps=2)
    with pytest.raises(TypeError, match="'objective' parameter of fit must be a torch.nn.Module. Got function"):
        fit(model, views, lambda z1, z2, batch: (z1 - z2).square().mean(), config, progress=False)


class ModeRecorder(torch.nn.Module):
    """Passes its input through and records the mode each forward ran in."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return x


def test_a_part_frozen_in_eval_mode_stays_frozen_and_an_evaluator_cannot_stop_training():
    model, views, objective, config = toy_run(steps=6, eval_every=2)
    frozen, trained = ModeRecorder(), ModeRecorder()
    network = torch.nn.Sequential(frozen, trained, model)
    frozen.eval()

    def careless_evaluator(m):
        m.eval()  # and never puts it back
        return {}

    fit(network, views, objective, config, evaluate=careless_evaluator, progress=False)
    assert frozen.seen == [False] * 12 and trained.seen == [True] * 12  # two views a step
    assert frozen.training is False


def test_a_model_handed_over_in_eval_mode_is_trained_whole():
    model, views, objective, config = toy_run(steps=2, eval_every=0)
    first, second = ModeRecorder(), ModeRecorder()
    network = torch.nn.Sequential(first, second, model).eval()
    fit(network, views, objective, config, progress=False)
    assert first.seen == second.seen == [True] * 4


def test_the_knn_curve_is_left_out_when_the_labels_cannot_score_it():
    import dataclasses as dc

    from symcl.training.loop import _scorable_labels

    model, views, objective, config = toy_run(steps=2, eval_every=1)
    evaluate = view_evaluator(views, 64, seed=0, device=torch.device("cpu"))
    assert 0.0 <= evaluate(model)["knn_accuracy"] <= 1.0
    assert _scorable_labels(None) is None
    assert _scorable_labels(torch.zeros(64, dtype=torch.int64)) is None  # one class
    assert _scorable_labels(torch.arange(64) % 20) is None  # about 3 samples a class: 5 neighbours cannot vote
    assert _scorable_labels(torch.arange(64) % 4) is not None

    class Unlabelled:
        def sample(self, n, generator):
            return dc.replace(views.sample(n, generator), labels=None)

    assert "knn_accuracy" not in view_evaluator(Unlabelled(), 64, seed=0, device=torch.device("cpu"))(model)
