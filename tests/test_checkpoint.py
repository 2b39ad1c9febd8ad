import os
import pickle
import random

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import symcl.checkpoint as checkpoint
from symcl.checkpoint import (
    CheckpointError,
    capture_rng,
    list_checkpoints,
    load_state,
    load_weights,
    prune_checkpoints,
    restore_rng,
    save_state,
    save_weights,
)


def test_nested_state_round_trips_with_types_intact(tmp_path):
    state = {
        "step": 7,
        "model": {"w": torch.randn(3, 2), "b": torch.zeros(2, dtype=torch.float64)},
        "optimizer": {
            "state": {0: {"step": torch.tensor(3.0)}},
            "param_groups": [{"betas": (0.9, 0.99), "params": [0]}],
        },
        "python_rng": random.getstate(),
        "nothing": None,
        "flag": True,
        "empty": [],
    }
    loaded = load_state(save_state(tmp_path / "s.safetensors", state))
    assert loaded["step"] == 7 and loaded["nothing"] is None and loaded["flag"] is True and loaded["empty"] == []
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])
    assert loaded["model"]["b"].dtype == torch.float64
    assert list(loaded["optimizer"]["state"]) == [0]  # integer keys survive
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.99)
    assert loaded["python_rng"] == state["python_rng"]


def test_rng_states_round_trip():
    generator = torch.Generator().manual_seed(3)
    saved = capture_rng(generator)
    first = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item())
    restore_rng(saved, generator)
    assert (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=generator).item()) == first


def test_rng_round_trip_keeps_numpys_cached_gaussian(tmp_path):
    # Legacy numpy draws Gaussians in pairs and caches the second: after an odd number of randn
    # draws the state includes it, and a resumed run must return that cached value first.
    outer = np.random.get_state()
    try:
        np.random.seed(0)
        np.random.randn()
        generator = torch.Generator().manual_seed(3)
        saved = load_state(save_state(tmp_path / "rng.safetensors", capture_rng(generator)))
        first = np.random.randn(3)
        restore_rng(saved, generator)
        np.testing.assert_array_equal(np.random.randn(3), first)
    finally:
        np.random.set_state(outer)


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "step-00000010.safetensors"
    save_state(path, {"value": torch.ones(4)})

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, {"value": torch.zeros(4)})
    assert torch.equal(load_state(path)["value"], torch.ones(4))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_truncated_checkpoint_gives_an_error_naming_the_file(tmp_path):
    path = save_state(tmp_path / "step-00000001.safetensors", {"w": torch.randn(100, 100)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="step-00000001.safetensors: corrupt or truncated"):
        load_state(path)


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"not a checkpoint at all"])
def test_garbage_checkpoint_gives_an_error_naming_the_file(tmp_path, content):
    path = tmp_path / "step-00000002.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="step-00000002.safetensors"):
        load_state(path)


def test_loading_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "step-00000003.safetensors"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError):
        load_state(path)
    with pytest.raises(CheckpointError):
        load_weights(path, torch.nn.Linear(2, 2))
    assert not marker.exists()


def test_plain_safetensors_is_not_taken_for_a_checkpoint(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.ones(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a symcl checkpoint"):
        load_state(path)


def test_weights_round_trip_and_mismatch(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = save_weights(tmp_path / "model.safetensors", model)
    fresh = load_weights(path, torch.nn.Linear(3, 2))
    assert torch.equal(fresh.weight, model.weight)
    with pytest.raises(CheckpointError, match="model.safetensors: weights do not fit the model"):
        load_weights(path, torch.nn.Linear(4, 2))
    with pytest.raises(CheckpointError, match="missing.safetensors: no such weights file"):
        load_weights(tmp_path / "missing.safetensors", model)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda w: w.fill_(float("nan")), "tensor 'weight' holds NaN or infinite values"),
        (lambda w: w.to(torch.int64), "tensor 'bias' is torch.int64, the model's is torch.float32"),
    ],
    ids=["NaN", "integers"],
)
def test_weights_that_would_give_wrong_numbers_are_refused(tmp_path, damage, message):
    tensors = {k: v.detach().clone() for k, v in torch.nn.Linear(3, 2).state_dict().items()}
    tensors = {k: damage(v) if message.startswith(f"tensor '{k}'") else v for k, v in tensors.items()}
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=f"model.safetensors: {message}"):
        load_weights(tmp_path / "model.safetensors", torch.nn.Linear(3, 2))


def test_a_model_directory_is_checked_before_its_model_is_built(tmp_path):
    from symcl.model_directory import load_model

    save_weights(tmp_path / "model.safetensors", torch.nn.Linear(3, 2))
    built = []

    def build(config):  # a damaged config.json asking for 4e12 floats must fail before allocating them
        built.append(torch.empty(0).device.type)
        return torch.nn.Linear(config["size"], config["size"])

    with pytest.raises(CheckpointError, match=r"weights do not fit the model \(shape in file vs model: bias"):
        load_model(tmp_path, {"model": {"size": 4}}, build)
    assert built == ["meta"]


def test_a_model_too_large_for_any_machine_is_one_clear_error(tmp_path):
    from symcl.errors import UserInputError
    from symcl.model_directory import load_model

    save_weights(tmp_path / "model.safetensors", torch.nn.Linear(100, 100))
    with pytest.raises(UserInputError, match="config.json: the model it describes cannot be built"):
        load_model(tmp_path, {"model": {"bits": 40}}, lambda c: torch.nn.Conv2d(2 ** c["bits"], 2 ** c["bits"], 3))


def test_a_size_above_the_weights_count_is_refused_before_anything_is_built(tmp_path):
    from symcl.errors import UserInputError
    from symcl.model_directory import load_model

    save_weights(tmp_path / "model.safetensors", torch.nn.Linear(3, 2))
    built = []
    # a million blocks of nothing: even on the meta device, building them takes minutes and gigabytes
    with pytest.raises(UserInputError, match=r"config.json: model 'blocks' is 1,000,000, more than the 8 numbers"):
        load_model(tmp_path, {"model": {"blocks": 1_000_000, "kinds": [3, 4]}}, built.append)
    with pytest.raises(UserInputError, match=r"model 'kmer_sizes' is 9, more than the 8 numbers"):
        load_model(tmp_path, {"model": {"kmer_sizes": [3, 9]}}, built.append)
    assert built == []


def test_a_config_file_that_cannot_be_read_is_one_clear_error(tmp_path):
    from symcl.errors import UserInputError
    from symcl.model_directory import read_model_config

    (tmp_path / "config.json").symlink_to("config.json")  # a link to itself
    with pytest.raises(UserInputError, match=r"config.json: cannot read it \(Too many levels of symbolic links\)"):
        read_model_config(tmp_path, "dna")


def test_listing_ignores_temporary_files_and_pruning_keeps_the_newest(tmp_path):
    for step in (5, 100, 20):
        save_state(tmp_path / f"step-{step:08d}.safetensors", {"step": step})
    (tmp_path / ".step-00000200.safetensors.abc.tmp").write_bytes(b"partial")
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "step-00000005.safetensors",
        "step-00000020.safetensors",
        "step-00000100.safetensors",
    ]
    prune_checkpoints(tmp_path, keep=1)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000100.safetensors"]
    assert os.path.exists(tmp_path / ".step-00000200.safetensors.abc.tmp")


def test_versions_record_the_torch_thread_count():
    # the same seed gives the same weights only with the same count (torch splits reductions by thread)
    from symcl.checkpoint import versions

    assert versions()["torch_threads"] == str(torch.get_num_threads())


def test_loading_a_model_leaves_the_global_random_state_alone(tmp_path):
    from symcl.model_directory import load_model

    save_weights(tmp_path / "model.safetensors", torch.nn.Linear(3, 2))
    before = torch.get_rng_state()
    load_model(tmp_path, {"model": {"size": 3}}, lambda c: torch.nn.Linear(c["size"], 2))
    assert torch.equal(torch.get_rng_state(), before)
