"""The training loop of the matcher: streamed synthetic pairs, distillation, resume, logs.

``RUN/checkpoint.pt`` holds the student, the distillation projection, the optimiser, the
scheduler, the step and the config; a run started again on the same folder continues from
it (same model config required). ``RUN/log.csv`` (and TensorBoard files in
``RUN/tensorboard``) get the loss terms, ``RUN/validation.csv`` the validation scores,
``RUN/last.safetensors`` and ``RUN/best.safetensors`` (best validation SR, then AUC) the
student alone, loadable by ``--set weights=FILE`` of the ``modalign`` matcher.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from ..config import from_dict, to_dict
from ..data.synthetic.dataset import SyntheticPairDataset
from ..data.synthetic.runner import make_generator
from ..errors import InputError
from ..models import CrossModalMatcher, save_model
from ..models.checkpoint import model_path
from ..teachers import load_teacher
from .config import TrainConfig
from .distributed import Context, setup, teardown
from .objective import batch_losses
from .validation import validate, validation_pairs

logger = logging.getLogger(__name__)
TERMS = ("total", "coarse", "fine", "modality", "distill")


class _State:
    """Student, projection, optimiser, scheduler and counters of a run."""

    def __init__(self, config: TrainConfig, teacher_dim: int | None):
        torch.manual_seed(config.seed)
        self.model = CrossModalMatcher(config.model, pretrained_backbone=True)
        self.projection = None
        if teacher_dim is not None:
            self.projection = torch.nn.Conv2d(config.model.dim, teacher_dim, 1)
        backbone = list(self.model.backbone.parameters())
        others = [p for n, p in self.model.named_parameters() if not n.startswith("backbone.")]
        if self.projection is not None:
            others += list(self.projection.parameters())
        self.optimizer = torch.optim.AdamW(
            [{"params": backbone, "lr": config.backbone_learning_rate},
             {"params": others, "lr": config.learning_rate}],
            weight_decay=config.weight_decay,
        )  # fmt: skip
        self.steps = config.steps  # the schedule's length (a time budget may resize it)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: schedule(step, config.warmup_steps, self.steps)
        )
        self.step, self.seconds = 0, 0.0
        self.sized = False  # whether ``steps`` was sized for a time budget
        self.best: tuple[float, float] = (-1.0, -1.0)
        if config.init:
            initialise(self.model, config.init, config.init_exclude)

    def save(self, path: Path, config: TrainConfig) -> None:
        checkpoint = {
            "model": self.model.state_dict(),
            "projection": None if self.projection is None else self.projection.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step, "seconds": self.seconds, "best": list(self.best),
            "sized": self.sized,
            "config": to_dict(config),
        }  # fmt: skip
        partial = path.with_name(path.name + ".partial")
        torch.save(checkpoint, partial)
        partial.replace(path)

    def load(self, checkpoint: dict, path: Path, config: TrainConfig) -> None:
        saved = from_dict(TrainConfig, checkpoint["config"])
        if saved.model != config.model or saved.teacher.kind != config.teacher.kind:
            raise InputError(str(path), "was trained with another model or teacher config")
        self.model.load_state_dict(checkpoint["model"], strict=True)
        if self.projection is not None:
            self.projection.load_state_dict(checkpoint["projection"], strict=True)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.step, self.seconds = checkpoint["step"], checkpoint["seconds"]
        self.best = tuple(checkpoint["best"])
        self.sized = checkpoint.get("sized", False)


def initialise(model: CrossModalMatcher, path: str, exclude: tuple[str, ...]) -> None:
    """Copy the tensors of matcher weights ``path`` whose names and shapes match into
    ``model``, except names starting with a prefix in ``exclude``."""
    from safetensors.torch import load_file

    own = model.state_dict()
    saved = load_file(str(model_path(path)))
    chosen = {
        name: tensor for name, tensor in saved.items()
        if name in own and own[name].shape == tensor.shape and not name.startswith(exclude)
    }  # fmt: skip
    if not chosen:
        raise InputError(path, "no tensor of these weights fits the model (init)")
    model.load_state_dict(chosen, strict=False)
    logger.info("initialised %d of %d tensors from %s", len(chosen), len(own), path)


def train_mode(model: CrossModalMatcher, config: TrainConfig) -> CrossModalMatcher:
    """``model`` in training mode; with ``freeze_batchnorm`` the backbone's batch norms stay
    in eval mode (their pretrained running statistics are used and kept)."""
    model.train()
    if config.freeze_batchnorm:
        for module in model.backbone.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
    return model


def schedule(step: int, warmup: int, steps: int) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to 0.1 at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


class _Logs:
    """CSV (and TensorBoard) logs of the main process; append across resumes."""

    def __init__(self, run: Path, tensorboard: bool):
        new = not (run / "log.csv").is_file()
        self.stream = (run / "log.csv").open("a", newline="")
        self.csv = csv.writer(self.stream)
        if new:
            self.csv.writerow(["step", "time", "seconds_per_step", "learning_rate", *TERMS])
        self.board = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise InputError(
                    "tensorboard", "is not installed",
                    "pip install 'modalign[train]' or --set tensorboard=false",
                ) from None  # fmt: skip
            self.board = SummaryWriter(str(run / "tensorboard"))

    def losses(self, step: int, seconds: float, learning_rate: float, terms: dict) -> None:
        values = [terms.get(t, float("nan")) for t in TERMS]
        self.csv.writerow([step, f"{time.time():.1f}", f"{seconds:.3f}", f"{learning_rate:.3g}",
                           *(f"{v:.5f}" for v in values)])  # fmt: skip
        self.stream.flush()
        if self.board is not None:
            for name, value in terms.items():
                self.board.add_scalar(f"loss/{name}", value, step)
            self.board.add_scalar("train/learning_rate", learning_rate, step)
            self.board.add_scalar("train/seconds_per_step", seconds, step)

    def validation(self, step: int, scores: dict) -> None:
        if self.board is not None:
            for name, value in scores.items():
                self.board.add_scalar(f"validation/{name}", value, step)
            self.board.flush()

    def close(self) -> None:
        self.stream.close()
        if self.board is not None:
            self.board.close()


def _loader(config: TrainConfig, context: Context, start: int):
    """Endless stream of batches; each process draws its own seeded pairs, from pair
    ``start`` on (so a resumed run continues the stream where it stopped)."""
    data = config.data
    synth = replace(data.synth, seed=data.synth.seed + 1_000_003 * context.rank)
    generator = make_generator(synth, [Path(p) for p in data.images],
                               [Path(p) for p in data.aligned], data.procedural)  # fmt: skip
    dataset = SyntheticPairDataset(generator, start=start)
    extra = {"multiprocessing_context": "spawn", "persistent_workers": True,
             "prefetch_factor": 4} if data.workers else {}  # fmt: skip
    return torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, num_workers=data.workers, **extra
    )


def train(
    config: TrainConfig, run: str | Path, on_step: Callable[[int, int], None] | None = None,
    device: str = "auto",
) -> dict:  # fmt: skip
    """Train (or resume) in ``run``; returns the last validation scores ({} if none)."""
    run = Path(run)
    context = setup(device)
    try:
        return _train(config, run, context, on_step)
    finally:
        teardown(context)


def _train(config: TrainConfig, run: Path, context: Context, on_step) -> dict:
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    teacher = load_teacher(config.teacher)
    state = _State(config, None if teacher is None else teacher.dim)
    checkpoint_path = run / "checkpoint.pt"
    if checkpoint_path.is_file():
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        state.load(checkpoint, checkpoint_path, config)
        logger.info("resuming from step %d", state.step)
    pairs = validation_pairs(config.validation, config.data.aligned) if context.main else []
    if config.budget_minutes and state.sized:  # keep the schedule the run was sized to
        config = replace(config, steps=checkpoint["config"]["steps"])
        state.steps = config.steps
    model = train_mode(state.model.to(context.device), config)
    if teacher is not None:
        teacher.to(context.device)
        state.projection.to(context.device)
    network = model
    if context.world > 1:
        ids = [context.device.index] if context.device.type == "cuda" else None
        network = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    logs = None
    if context.main:
        run.mkdir(parents=True, exist_ok=True)
        logs = _Logs(run, config.tensorboard)
    start, scores, tick = time.monotonic(), {}, time.monotonic()
    batches = iter(_loader(config, context, state.step * config.batch_size))
    timed: list[float] = []  # seconds of this run's first steps, until the schedule is sized
    try:
        while state.step < config.steps or (config.budget_minutes and not state.sized):
            if config.max_minutes and time.monotonic() - start > 60 * config.max_minutes:
                break
            batch = {k: v.to(context.device) for k, v in next(batches).items()}
            terms = training_step(network, state, teacher, batch, config)
            state.step += 1
            elapsed, tick = time.monotonic() - tick, time.monotonic()
            state.seconds += elapsed
            if config.budget_minutes and not state.sized:
                timed.append(elapsed)
                if len(timed) == config.timing_steps:
                    config = replace(config, steps=budget_steps(state, config, timed, context))
                    state.steps, state.sized = config.steps, True
            if logs and state.step % config.log_every == 0:
                values = {k: float(v.detach()) for k, v in terms.items()}
                logs.losses(state.step, elapsed, state.scheduler.get_last_lr()[-1], values)
            if (
                config.validation.every
                and pairs
                and (state.step % config.validation.every == 0 or state.step == config.steps)
            ):
                scores = _validate(state, pairs, config, run, logs)
                tick = time.monotonic()
            if context.main and state.step % config.checkpoint_every == 0:
                _save(state, config, run)
                tick = time.monotonic()
            if on_step:
                on_step(state.step, config.steps)
        if context.main:
            _save(state, config, run)
    finally:
        if logs:
            logs.close()
    return scores


def budget_steps(state: _State, config: TrainConfig, timed: list[float], context) -> int:
    """The schedule's length that spends the rest of ``config.budget_minutes`` at the mean
    time of the ``timed`` steps (their first fifth left out). The processes of a
    distributed run take the shortest of their lengths, so that all stop at one step."""
    kept = timed[len(timed) // 5 :] or timed
    per_step = sum(kept) / len(kept)
    left = 60 * config.budget_minutes - state.seconds
    steps = torch.tensor(state.step + max(1, int(left / per_step)), dtype=torch.int64)
    if context.world > 1:
        steps = steps.to(context.device)
        torch.distributed.all_reduce(steps, op=torch.distributed.ReduceOp.MIN)
    logger.info("step %d: %.3f s per step, schedule sized to %d steps", state.step, per_step,
                int(steps))  # fmt: skip
    return int(steps)


def training_step(network, state: _State, teacher, batch: dict, config: TrainConfig) -> dict:
    """One optimiser step of ``network`` (the student, maybe DDP-wrapped) on a batch;
    returns the loss terms."""
    fine = (config.model.fine_radius, config.model.fine_temperature)
    device = batch["image0"].device.type
    with torch.autocast(device, torch.bfloat16, enabled=config.precision == "bf16"):
        output = network(batch)
        features = None
        if teacher is not None:
            features = (teacher(batch["image0"]), teacher(batch["image1"]))
        terms = batch_losses(output, batch, config.loss, fine, features, state.projection)
    state.optimizer.zero_grad(set_to_none=True)
    terms["total"].backward()
    parameters = [p for group in state.optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(parameters, config.clip_grad)
    state.optimizer.step()
    state.scheduler.step()
    return terms


def _training_metadata(state: _State, config: TrainConfig) -> dict:
    return {"step": state.step, "training_seconds": round(state.seconds),
            "teacher": to_dict(config.teacher), "data": to_dict(config.data),
            "batch_size": config.batch_size, "precision": config.precision,
            "init": config.init}  # fmt: skip


def _save(state: _State, config: TrainConfig, run: Path) -> None:
    state.save(run / "checkpoint.pt", config)
    save_model(state.model, run / "last.safetensors", _training_metadata(state, config))


def _validate(state: _State, pairs: list, config: TrainConfig, run: Path, logs: _Logs) -> dict:
    scores = validate(state.model, pairs, config.validation)
    train_mode(state.model, config)
    logger.info("step %d: validation %s", state.step, scores)
    logs.validation(state.step, scores)
    key = tuple(list(scores.values())[:2])
    if key > state.best:
        state.best = key
        training = {**_training_metadata(state, config), "validation": scores}
        save_model(state.model, run / "best.safetensors", training)
    new = not (run / "validation.csv").is_file()
    with (run / "validation.csv").open("a") as stream:
        if new:
            stream.write("step," + ",".join(scores) + "\n")
        stream.write(f"{state.step}," + ",".join(f"{v:.5f}" for v in scores.values()) + "\n")
    return scores
