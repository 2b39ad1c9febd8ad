"""``fit``: the training loop. It reads top to bottom; everything else is a callback."""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from symcl.atomic import make_directory
from symcl.checkpoint import CheckpointError, list_checkpoints, load_state, restore_rng
from symcl.distributed import average_gradients, init_distributed, is_main_process, rank, world_size
from symcl.embedding import evaluation_mode, module_modes, restore_modes
from symcl.errors import TrainingError, UserInputError
from symcl.metrics import alignment, effective_rank, uniformity
from symcl.training.callbacks import Callback, Checkpointer, EarlyStopping, HistoryRecorder, ProgressBar
from symcl.training.config import TrainConfig
from symcl.training.interruption import StopRequest
from symcl.training.schedule import warmup_cosine
from symcl.training.state import TrainState
from symcl.views import ViewBatch, ViewGenerator

_RANK_SEED_STRIDE = 1_000_003  # a prime, so rank streams never coincide for small seeds

Evaluator = Callable[[nn.Module], dict[str, float]]


def fit(
    model: nn.Module,
    views: ViewGenerator,
    objective: nn.Module,
    config: TrainConfig,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    evaluate: Evaluator | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
) -> TrainState:
    """Train ``model`` on batches drawn from ``views`` by minimising ``objective``.

    AdamW with a warm-up + cosine schedule and gradient clipping. Every
    ``config.eval_every`` steps ``evaluate(model)`` is called (by default: alignment,
    uniformity and effective rank on a fixed batch of views). With ``out_dir``,
    checkpoints, ``history.json``, ``model.safetensors`` and ``config.json`` are written
    there, and ``resume=True`` continues from the newest checkpoint, bit-identically
    on CPU; it refuses a checkpoint written with another ``config`` or ``metadata``.
    Without ``resume``, an ``out_dir`` that already holds checkpoints is refused, so
    two runs never mix theirs. ``resume=True`` without ``out_dir`` is refused.

    With ``out_dir``, in a single process, Ctrl-C (SIGINT) and SIGTERM received while
    training stop it after the current step, which is checkpointed first; then the
    signal takes its usual course (``KeyboardInterrupt``, or the previous SIGTERM
    handler). A second signal stops at once. Under torchrun the signals act as usual.

    Every step runs in training mode, except submodules that the caller put in eval mode
    inside a model in training mode (a frozen BatchNorm or pretrained trunk): they stay in
    eval mode. A model handed over in eval mode as a whole is trained whole.

    Under torchrun, fit joins the process group (gloo on CPU, nccl on CUDA), wraps the
    model in DistributedDataParallel and gives each rank ``batch_size / world_size``
    samples; objectives built on :class:`symcl.InfoNCE` then use global negatives.
    Only rank 0 writes files; checkpoints hold every rank's RNG states.

    Parameters
    ----------
    model : nn.Module
        Encoder mapping a view batch to embeddings (B, d).
    views : ViewGenerator
        ``views.sample(batch_size, generator) -> ViewBatch``.
    objective : nn.Module
        ``objective(z1, z2, batch) -> loss``, e.g. :func:`contrastive_objective`. A module,
        so that its parameters and state are trained and checkpointed with the model.
    config : TrainConfig
    evaluate : callable, optional
        ``evaluate(model) -> {name: number}``; a number may be a float, an int, a 0-dim
        tensor or a numpy scalar, and is recorded as a Python number.
    metadata : dict, optional
        Extra JSON written into ``config.json`` (e.g. the model architecture).

    Returns
    -------
    TrainState
        The final state; ``state.history`` holds the curves and ``state.stop_reason``
        why training stopped early, if it did.

    Raises
    ------
    TrainingError
        When the loss becomes non-finite; the message names the step and the last
        good checkpoint, which stays on disk.
    """
    _check_fit_arguments(model, objective, out_dir, resume)
    init_distributed(config.device)
    ranks, me = world_size(), rank()
    if config.batch_size % ranks:
        raise UserInputError(
            f"The batch size ({config.batch_size}) must be a multiple of the number of processes ({ranks})."
        )
    device = torch.device(config.device)
    model.to(device)
    objective.to(device)
    # Each rank draws its own share of the global batch, and its own dropout masks.
    seed_everything(config.seed + _RANK_SEED_STRIDE * me)
    data_generator = torch.Generator().manual_seed(config.seed + _RANK_SEED_STRIDE * me)
    network = model if ranks == 1 else nn.parallel.DistributedDataParallel(model)
    parameters = [p for module in (model, objective) for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    state = TrainState(
        model,
        objective,
        optimizer,
        warmup_cosine(optimizer, config.effective_warmup_steps, config.steps),
        config,
        data_generator,
        Path(out_dir) if out_dir is not None else None,
    )
    callbacks = _default_callbacks(config, progress and me == 0) + list(callbacks)
    checkpointer = None
    if state.out_dir is not None:
        make_directory(state.out_dir)
        checkpointer = Checkpointer(callbacks[:], metadata)
        callbacks.append(checkpointer)
        if resume:
            _resume(state, callbacks, metadata or {})
        else:
            refuse_earlier_run(state.out_dir)
    if evaluate is None and config.eval_every:
        evaluate = view_evaluator(views, config.eval_batch_size, seed=config.seed, device=device)

    modes = [_training_modes(network), _training_modes(objective)]
    for callback in callbacks:
        callback.on_train_start(state)
    # Ctrl-C or SIGTERM stop after the step, once it is checkpointed (one process only: ranks
    # would receive the signal at different steps).
    with StopRequest(checkpointer is not None and ranks == 1) as stop:
        while state.step < config.steps and not state.stop_reason:
            batch = views.sample(config.batch_size // ranks, data_generator).to(device)
            for recorded in modes:  # an evaluator or callback cannot leave its mode behind
                restore_modes(recorded)
            loss = _train_step(state, network, batch)
            state.step += 1
            due = config.eval_every and (state.step % config.eval_every == 0 or state.step == config.steps)
            metrics = _plain_metrics(evaluate(model)) if due else None
            for callback in callbacks:
                callback.on_step_end(state, loss, metrics)
            if stop.received is not None:
                checkpointer.save_if_new(state)
                stop.stop()
    for callback in callbacks:
        callback.on_train_end(state)
    return state


def _check_fit_arguments(model: Any, objective: Any, out_dir: Any, resume: bool) -> None:
    # the objective is moved, trained and checkpointed with the model: a plain function cannot be
    for name, value in (("model", model), ("objective", objective)):
        if not isinstance(value, nn.Module):
            raise TypeError(
                f"The '{name}' parameter of fit must be a torch.nn.Module. Got {type(value).__name__} instead"
                + (
                    " (wrap a loss function in an nn.Module, or use contrastive_objective)."
                    if name == "objective"
                    else "."
                )
            )
    if resume and out_dir is None:  # otherwise it would silently train from step 0
        raise ValueError(
            "The 'resume' parameter of fit needs 'out_dir', the folder whose checkpoints to continue. Got out_dir=None."
        )


def _plain_metrics(result: Any) -> dict[str, Any]:
    """The evaluator's result with 0-dim tensors and numpy scalars as Python numbers.

    history.json and the checkpoints store JSON values only; anything else is refused
    here, at the first evaluation, rather than when the first checkpoint is written.
    """
    if not isinstance(result, dict):
        raise TypeError(
            f"The 'evaluate' parameter of fit must return a dict of metric names to numbers. "
            f"It returned a {type(result).__name__}."
        )
    return {key: _plain_number(key, value) for key, value in result.items()}


def _plain_number(key: Any, value: Any) -> Any:
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)) and np.ndim(value) == 0:
        value = value.item()
    if not isinstance(key, str):
        raise TypeError(
            f"The 'evaluate' parameter of fit must return a dict with metric names (str) as keys. "
            f"Got the key {key!r} ({type(key).__name__})."
        )
    if value is None or isinstance(value, (bool, int, float)):
        return value
    shape = f" of shape {tuple(np.shape(value))}" if isinstance(value, (torch.Tensor, np.ndarray)) else ""
    raise TypeError(
        f"The 'evaluate' parameter of fit must return a dict of metric names (str) to numbers (a float, an int, "
        f"a 0-dim tensor or a numpy scalar). For the key {key!r} it returned a {type(value).__name__}{shape}."
    )


def _training_modes(module: nn.Module) -> list[tuple[nn.Module, bool]]:
    """The modes the training steps run in: a module in eval mode as a whole is put in training
    mode, while a part that the caller froze in eval mode inside a training model (a BatchNorm,
    a pretrained trunk) stays frozen."""
    if not module.training:
        module.train()
    return module_modes(module)


def _train_step(state: TrainState, network: nn.Module, batch: ViewBatch) -> float:
    """One optimiser step; ``network`` is the model, or its DDP wrapper. Returns the global loss."""
    loss = state.objective(network(batch.view1), network(batch.view2), batch)
    value = _global_mean(loss.detach())
    if not math.isfinite(value):
        raise TrainingError(f"training stopped: the loss is {value} at step {state.step + 1}; {_last_good(state)}")
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(state.objective.parameters())  # DDP averages the model's only
    # The norm is needed even without clipping: a finite loss can have NaN gradients,
    # and one such step would leave NaN weights for the next checkpoint to save.
    parameters = [p for g in state.optimizer.param_groups for p in g["params"] if p.grad is not None]
    norm = float(nn.utils.clip_grad_norm_(parameters, state.config.grad_clip or math.inf))
    if not math.isfinite(norm):
        raise TrainingError(
            f"training stopped: the gradient norm is {norm} at step {state.step + 1} (the loss was {value:.6g}); "
            f"{_last_good(state)}"
        )
    state.optimizer.step()
    state.scheduler.step()
    return value


def _last_good(state: TrainState) -> str:
    if state.last_checkpoint:
        return f"the last good checkpoint is {state.last_checkpoint}"
    return "no checkpoint was written yet"


def _global_mean(value: torch.Tensor) -> float:
    """The loss averaged over ranks, so that all ranks log it and stop on NaN together."""
    if world_size() > 1:
        value = value.clone()
        torch.distributed.all_reduce(value)
        value /= world_size()
    return value.item()


def _default_callbacks(config: TrainConfig, progress: bool) -> list[Callback]:
    callbacks: list[Callback] = [ProgressBar(progress), HistoryRecorder()]
    if config.early_stopping_patience is not None:
        callbacks.append(EarlyStopping(config.early_stopping_patience, restore_best=config.restore_best))
    return callbacks


def refuse_other_process_count(out_dir: Path, processes: int) -> None:
    """Refuse to resume the checkpoint of ``out_dir`` that a resume would load with another number of processes."""
    readable = newest_readable_checkpoint(out_dir, warn=False)
    if readable is not None:
        path, saved = readable
        _check_process_count(path, _written_by(path, saved), processes)


def newest_readable_checkpoint(out_dir: Path, *, warn: bool = True) -> tuple[Path, Any] | None:
    """The newest checkpoint of ``out_dir`` that can be read, and its contents; None when there is none.

    A newer file that cannot be read (truncated by a full disk, damaged by a copy) is
    passed over. With ``warn`` (the resume itself), one warning names it and the
    checkpoint used instead, and it is set aside as ``<name>.unreadable``: kept for
    inspection, but no longer a checkpoint, which pruning would otherwise count as the
    newest and keep in place of the resumed run's own. When no checkpoint can be read,
    the newest one's error is raised.
    """
    found = list_checkpoints(out_dir / "checkpoints")
    unreadable: list[tuple[Path, CheckpointError]] = []
    for path in reversed(found):
        try:
            saved = load_state(path)
        except CheckpointError as error:
            unreadable.append((path, error))
            continue
        if unreadable and warn and is_main_process():
            for bad, _ in unreadable:
                bad.rename(bad.with_name(bad.name + UNREADABLE_SUFFIX))
            print(
                f"symcl: warning: cannot read {'; '.join(str(error) for _, error in unreadable)}; resuming from the "
                f"newest readable checkpoint, {path.name}, instead (the unreadable file(s) are kept as "
                f"*{UNREADABLE_SUFFIX})",
                file=sys.stderr,
            )
        return path, saved
    if unreadable:
        raise unreadable[0][1]
    return None


UNREADABLE_SUFFIX = ".unreadable"


def _written_by(path: Path, saved: Any) -> int:
    """How many processes wrote a checkpoint: one RNG state each."""
    try:
        return len(saved["rng"])
    except (KeyError, TypeError, IndexError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint, its RNG states cannot be read ({error!r})") from None


def _check_process_count(path: Path, written_by: int, processes: int) -> None:
    if written_by != processes:  # each rank's RNG state continues its own stream
        raise UserInputError(
            f"{path}: written by {written_by} process(es); resume it with the same number, not {processes}"
        )


def refuse_earlier_run(out_dir: Path, resume: str = "resume=True") -> None:
    """A fresh run must not mix its checkpoints with an earlier run's, which a later resume would pick up.

    ``resume`` is how the caller continues a run: ``resume=True`` for fit, ``--resume`` on the command line.
    """
    found = list_checkpoints(out_dir / "checkpoints")
    if found:
        raise UserInputError(
            f"{out_dir}: holds the checkpoints of an earlier run (newest {found[-1].name}); continue it with "
            f"{resume}, or write this run to another folder"
        )


def _resume(state: TrainState, callbacks: list[Callback], metadata: dict[str, Any]) -> None:
    """Load the newest readable checkpoint of ``state.out_dir`` into every part of the run."""
    if is_main_process():
        _remove_interrupted_writes(state.out_dir)
    readable = newest_readable_checkpoint(state.out_dir)
    if readable is None:
        if is_main_process():
            print(f"symcl: nothing to resume in {state.out_dir} (no checkpoint); starting at step 0", file=sys.stderr)
        return
    path, saved = readable
    try:
        changed = state.config.differences(saved["config"])
        if "metadata" in saved:  # checkpoints written before it was saved are not checked
            as_json = [json.loads(json.dumps(m)) for m in (saved["metadata"], metadata)]  # tuples -> lists, once
            changed |= _metadata_differences(*as_json)
    except (KeyError, TypeError, AttributeError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint, its configuration cannot be read ({error!r})") from None
    if changed:
        details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise UserInputError(f"{path}: cannot resume with a different configuration ({details})")
    _check_process_count(path, _written_by(path, saved), world_size())
    try:
        _restore(state, saved, callbacks)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as error:
        detail = " ".join(str(error).split())  # torch's load_state_dict errors run over many lines
        detail = detail if len(detail) <= 300 else detail[:297] + "..."
        raise CheckpointError(f"{path}: damaged checkpoint ({type(error).__name__}: {detail})") from None
    state.last_checkpoint = path
    if state.step > state.config.steps:
        raise UserInputError(
            f"{path}: the run is at step {state.step}, past --steps {state.config.steps}; resume with --steps "
            f">= {state.step}, or train a new run in another folder"
        )
    _refuse_other_length(path, saved["config"].get("steps"), state.config.steps)
    if is_main_process():
        finished = "; nothing left to train" if state.step == state.config.steps else ""
        print(f"symcl: resuming from {path} (step {state.step}){finished}", file=sys.stderr)
        _warn_of_other_thread_count(path, saved)


def _refuse_other_length(path: Path, saved_steps: Any, steps: int) -> None:
    """The learning rate decays to zero at ``steps``: resuming with another length would be another run."""
    if saved_steps != steps:
        raise UserInputError(
            f"{path}: the run was started with --steps {saved_steps}, not {steps}; its learning rate decays to zero "
            f"at step {saved_steps}, so another length is another run (a jump in the learning rate, not a "
            f"continuation): resume with --steps {saved_steps}, or train a new run in another folder"
        )


def _warn_of_other_thread_count(path: Path, saved: dict[str, Any]) -> None:
    """torch splits its CPU reductions by thread: another count continues the run, but not bit-identically."""
    before, now = saved.get("versions", {}).get("torch_threads"), str(torch.get_num_threads())
    if before is not None and before != now:
        print(
            f"symcl: warning: {path} was written with {before} torch thread(s), this run has {now}: it continues, "
            f"but not bit-identically to an uninterrupted run (set OMP_NUM_THREADS={before} for that)",
            file=sys.stderr,
        )


def _remove_interrupted_writes(out_dir: Path) -> None:
    """Delete the temporary files that a killed run's atomic writes left (``.NAME.XXXXXXXX.tmp``)."""
    for folder in (out_dir, out_dir / "checkpoints"):
        for leftover in folder.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


def _restore(state: TrainState, saved: dict[str, Any], callbacks: list[Callback]) -> None:
    """Put a checkpoint's state into the run; raises what a damaged checkpoint makes torch raise."""
    step = saved["step"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"step {step!r} is not a step number")
    if not isinstance(saved["history"], dict) or not isinstance(saved["callbacks"], dict):
        raise TypeError("its history and callbacks' states must be mappings")
    state.model.load_state_dict(saved["model"])
    state.objective.load_state_dict(saved["objective"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    # The next step takes its rate from this run's schedule (the same as the saved one:
    # another --steps is refused).
    scheduler = state.scheduler  # a LambdaLR (warmup_cosine); written as its get_lr, for the same floats
    rates = [
        base * factor(scheduler.last_epoch)
        for factor, base in zip(scheduler.lr_lambdas, scheduler.base_lrs, strict=True)
    ]
    for group, rate in zip(state.optimizer.param_groups, rates, strict=True):
        group["lr"] = rate
    restore_rng(saved["rng"][rank()], state.data_generator)
    state.step = step
    state.stop_reason = saved["stop_reason"]
    state.history = saved["history"]
    for callback in callbacks:
        callback.load_state_dict(saved["callbacks"].get(type(callback).__name__, {}))


def _metadata_differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> dict[str, tuple]:
    """The entries of the run's metadata (model, views, training files) that differ, by dotted key."""
    changed: dict[str, tuple] = {}
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changed |= _metadata_differences(old, new, f"{prefix}{key}.")
        elif old != new:
            changed[f"{prefix}{key}"] = (old, new)
    return changed


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch. Called at the start of training, never at import."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def view_evaluator(views: ViewGenerator, batch_size: int, *, seed: int, device: torch.device) -> Evaluator:
    """Alignment, uniformity and effective rank of the model on one fixed batch of views,
    and, when the batch carries labels, ``knn_accuracy``.

    The batch is drawn once from its own generator, so evaluating never changes the
    training RNG streams and every evaluation sees the same inputs. ``knn_accuracy`` is
    the leave-one-out 5-NN accuracy of the labels (a genome, a defect kind) from the
    first views' embeddings: the downstream curve that tells a representation that
    learns from one whose loss falls while it learns nothing useful. It is left out when
    the labels cannot score it: one class, or fewer than 6 samples a class on average.
    """
    from symcl.evaluation import knn_accuracy  # here: symcl.evaluation imports symcl.training

    batch = views.sample(batch_size, torch.Generator().manual_seed(seed + 1)).to(device)
    labels = _scorable_labels(batch.labels)

    @torch.no_grad()
    def evaluate(model: nn.Module) -> dict[str, float]:
        with evaluation_mode(model):
            z1, z2 = model(batch.view1), model(batch.view2)
        metrics = {
            "alignment": float(alignment(z1, z2)),
            "uniformity": float(uniformity(z1)),
            "effective_rank": effective_rank(z1),
        }
        if labels is not None:
            metrics["knn_accuracy"] = knn_accuracy(z1.float().cpu().numpy(), labels, k=_EVAL_NEIGHBOURS)
        return metrics

    return evaluate


_EVAL_NEIGHBOURS = 5


def _scorable_labels(labels: torch.Tensor | None) -> np.ndarray | None:
    """The batch's labels as an array when a k-NN accuracy means something on them, else None."""
    if labels is None:
        return None
    values = labels.cpu().numpy()
    classes = len(np.unique(values))
    if classes < 2 or len(values) < (_EVAL_NEIGHBOURS + 1) * classes:
        return None
    return values
