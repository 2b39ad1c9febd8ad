import pytest

from symcl import CollapseMonitor


def _feed(monitor, uniformity, alignment, loss):
    stops = []
    for step, values in enumerate(zip(uniformity, alignment, loss, strict=True)):
        u, a, loss_value = values
        stops.append(monitor.update(step * 10, uniformity=u, alignment=a, loss=loss_value))
    return stops


def test_stops_on_uniformity_degradation_while_alignment_improves():
    monitor = CollapseMonitor(patience=3, min_delta=0.01)
    stops = _feed(
        monitor,
        uniformity=[-1.0, -2.0, -2.5, -2.0, -1.5, -1.0, -0.5],
        alignment=[1.0, 0.8, 0.6, 0.4, 0.2, 0.1, 0.05],
        loss=[5.0, 4.0, 3.0, 2.5, 2.0, 1.5, 1.0],
    )
    assert stops == [False, False, False, False, False, True, True]
    assert monitor.best_.step == 20
    assert monitor.collapsed_
    assert "uniformity degraded from -2.5 (step 20) to -1 (step 50)" in monitor.reason_
    assert "alignment improved" in monitor.reason_ and "collapsing" in monitor.reason_


def test_keeps_going_while_uniformity_improves_or_holds():
    monitor = CollapseMonitor(patience=2, min_delta=0.01)
    stops = _feed(monitor, [-1, -2, -2.005, -2.004, -3, -2.995], [1] * 6, [1] * 6)
    assert not any(stops)
    assert monitor.reason_ == ""


def test_a_recovery_resets_the_patience():
    monitor = CollapseMonitor(patience=2)
    stops = _feed(monitor, [-2, -1, -2.5, -1, -1], [None] * 5, [None] * 5)
    assert stops == [False, False, False, False, True]
    assert not monitor.collapsed_  # nothing else was reported to have improved


def test_an_evaluation_within_the_band_breaks_a_streak_of_bad_ones():
    # -1.995 is neither better nor worse than the best (-2) by more than min_delta: the bad
    # evaluations around it are not consecutive, so patience 2 is never reached.
    monitor = CollapseMonitor(patience=2, min_delta=0.01, relative_delta=0)
    stops = _feed(monitor, [-2, -1, -1.995, -1], [None] * 4, [None] * 4)
    assert not any(stops)


def test_tensor_values_are_kept_as_plain_floats():
    import json
    import warnings

    import torch

    monitor = CollapseMonitor()
    weight = torch.ones((), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor a warning about converting a tensor that requires grad
        monitor.update(0, uniformity=-2 * weight, alignment=0.5 * weight, loss=3 * weight)
    best = monitor.best_
    assert all(type(v) is float for v in (best.uniformity, best.alignment, best.loss))  # no graph kept alive
    assert json.loads(json.dumps(monitor.state_dict()))["history"][0]["loss"] == 3.0


def test_a_numpy_integer_patience_is_an_integer():
    import json

    import numpy as np

    monitor = CollapseMonitor(patience=np.int64(2))
    assert json.loads(json.dumps(monitor.state_dict()))["patience"] == 2


def test_state_round_trip():
    monitor = CollapseMonitor(patience=2)
    _feed(monitor, [-2, -1], [0.5, 0.4], [3, 2])
    copy = CollapseMonitor()
    copy.load_state_dict(monitor.state_dict())
    assert copy.update(20, uniformity=-1.0) and monitor.update(20, uniformity=-1.0)
    assert copy.reason_ == monitor.reason_


def test_state_round_trip_keeps_the_relative_delta():
    # A resumed run must keep its band: -1.5 is within 50 % of the best (-2), so it is no bad
    # evaluation, whereas with the default 10 % (or none) it would stop a patience-1 monitor.
    monitor = CollapseMonitor(patience=1, min_delta=0.01, relative_delta=0.5)
    _feed(monitor, [-2], [None], [None])
    copy = CollapseMonitor()
    copy.load_state_dict(monitor.state_dict())
    assert copy.relative_delta == 0.5
    assert not copy.update(10, uniformity=-1.5)


def test_bad_parameters():
    with pytest.raises(ValueError, match="'patience'.*Got 0"):
        CollapseMonitor(patience=0)
    with pytest.raises(ValueError, match="'uniformity'.*finite.*step 3"):
        CollapseMonitor().update(3, uniformity=float("nan"))


def test_numpy_float_thresholds_are_taken_and_bad_ones_named():
    import numpy as np

    monitor = CollapseMonitor(min_delta=np.float32(0.01), relative_delta=np.float64(0.2))
    assert type(monitor.min_delta) is float and monitor.min_delta == pytest.approx(0.01)
    for value in (True, np.float32("nan"), -0.1, "0.1"):
        with pytest.raises(ValueError, match="'min_delta' parameter of CollapseMonitor must be finite and >= 0"):
            CollapseMonitor(min_delta=value)
