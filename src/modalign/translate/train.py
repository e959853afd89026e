"""pix2pix-style training of the translator on aligned visible/infrared pairs, resumable.

Losses: generator = L1 + (1 - SSIM) + least-squares adversarial; critic = least squares.
``RUN/checkpoint.pt`` holds both networks, both optimisers, the step, the config and the
best validation score; a run restarted on the same folder continues from it. ``RUN/log.csv``
gets the losses, ``RUN/samples/`` sheets of validation pairs, ``RUN/best.safetensors`` the
generator with the lowest validation L1, ``RUN/last.safetensors`` the one the run ended with.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..config import from_dict, to_dict
from ..errors import InputError
from ..io import to_uint8, write_image
from .api import save_translator, translate_batch
from .data import load_pair, random_crops, similarity, split_pairs
from .model import PatchDiscriminator, Translator, TranslatorConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainTranslatorConfig:
    """Everything that decides a training run (stored in the checkpoint).

    ``source`` and ``target`` are modality names of the set's pairs.csv: the translator
    reads the first and renders the second (a visible -> infrared translator by default).
    ``max_minutes`` stops early (0: no limit); ``threads`` sets torch's CPU threads (0: its
    default). A run continues from ``RUN/checkpoint.pt`` with the same model config.
    ``seed`` draws the initial weights and the crops; ``holdout_seed`` draws the held-out
    split, 0 being the benchmark's (``modalign bench --held-out``), so a run with another
    ``seed`` still never trains on the pairs the benchmark holds out.
    """

    model: TranslatorConfig = field(default_factory=TranslatorConfig)
    source: str = "visible"
    target: str = "infrared"
    steps: int = 6000
    batch_size: int = 8
    crop: int = 128
    learning_rate: float = 2e-4
    l1_weight: float = 10.0
    ssim_weight: float = 5.0
    adversarial_weight: float = 1.0
    holdout_fraction: float = 0.2
    test_pairs: int = 20
    seed: int = 0
    holdout_seed: int = 0
    max_minutes: float = 0.0
    threads: int = 0
    log_every: int = 50
    checkpoint_every: int = 250
    validate_every: int = 500


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 11) -> torch.Tensor:
    """Per-pixel SSIM of [B, 1, H, W] images in [0, 1] (Gaussian window, sigma 1.5)."""
    coords = torch.arange(window, dtype=a.dtype) - window // 2
    kernel = torch.exp(-(coords**2) / (2 * 1.5**2))
    kernel = (kernel / kernel.sum())[None, None]

    def smooth(x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, kernel[..., None, :], padding=(0, window // 2))
        return F.conv2d(x, kernel[..., :, None], padding=(window // 2, 0))

    mu_a, mu_b = smooth(a), smooth(b)
    var_a, var_b = smooth(a * a) - mu_a**2, smooth(b * b) - mu_b**2
    covariance = smooth(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * covariance + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )


class _State:
    """Networks, optimisers and counters of a run."""

    def __init__(self, config: TrainTranslatorConfig):
        torch.manual_seed(config.seed)
        self.generator = Translator(config.model)
        self.critic = PatchDiscriminator()
        betas = (0.5, 0.999)
        self.optimizer_g = torch.optim.Adam(
            self.generator.parameters(), config.learning_rate, betas=betas
        )
        self.optimizer_d = torch.optim.Adam(
            self.critic.parameters(), config.learning_rate, betas=betas
        )
        self.step, self.best, self.seconds = 0, float("inf"), 0.0

    def save(self, path: Path, config: TrainTranslatorConfig) -> None:
        partial = path.with_name(path.name + ".partial")
        checkpoint = {
            "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "step": self.step,
            "best": self.best,
            "seconds": self.seconds,
            "config": to_dict(config),
        }
        torch.save(checkpoint, partial)
        partial.replace(path)

    def save_generator(self, path: Path, settings: dict, **extra) -> None:
        """The generator's weights with the step, the training time, ``extra`` and the
        run's ``settings`` in the file's metadata."""
        training = {"step": self.step, "training_seconds": round(self.seconds),
                    **extra, **settings}  # fmt: skip
        save_translator(self.generator, path, training)

    def load(self, checkpoint: dict) -> None:
        self.generator.load_state_dict(checkpoint["generator"], strict=True)
        self.critic.load_state_dict(checkpoint["critic"], strict=True)
        self.optimizer_g.load_state_dict(checkpoint["optimizer_g"])
        self.optimizer_d.load_state_dict(checkpoint["optimizer_d"])
        self.step, self.best = checkpoint["step"], checkpoint["best"]
        self.seconds = checkpoint.get("seconds", 0.0)


def training_step(
    state: _State, visible: torch.Tensor, infrared: torch.Tensor, c: TrainTranslatorConfig
) -> dict[str, float]:
    """One critic and one generator update on a batch; returns the losses."""
    fake = state.generator(visible)
    real_score = state.critic(visible, infrared)
    fake_score = state.critic(visible, fake.detach())
    critic_loss = 0.5 * ((real_score - 1) ** 2).mean() + 0.5 * (fake_score**2).mean()
    state.optimizer_d.zero_grad(set_to_none=True)
    critic_loss.backward()
    state.optimizer_d.step()

    l1 = (fake - infrared).abs().mean()
    structure = 1 - ssim_map(fake, infrared).mean()
    adversarial = ((state.critic(visible, fake) - 1) ** 2).mean()
    loss = c.l1_weight * l1 + c.ssim_weight * structure + c.adversarial_weight * adversarial
    state.optimizer_g.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer_g.step()
    return {
        "loss": loss.item(),
        "l1": l1.item(),
        "ssim_loss": structure.item(),
        "adversarial": adversarial.item(),
        "critic": critic_loss.item(),
    }


def evaluate(generator: Translator, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean SSIM and L1 (normalised intensities) of the generator's output vs real infrared."""
    generator.eval()
    outputs = translate_batch(generator, [visible for visible, _ in pairs])
    generator.train()
    scores = [similarity(o, infrared) for o, (_, infrared) in zip(outputs, pairs, strict=True)]
    return {
        "ssim": float(np.mean([s for s, _ in scores])),
        "l1": float(np.mean([d for _, d in scores])),
    }


def sample_sheet(
    generator: Translator, pairs: list[tuple[np.ndarray, np.ndarray]], width: int = 320
) -> np.ndarray:
    """Rows of visible | pseudo-infrared | real infrared, each panel resized to ``width``
    px and the height of the first pair's aspect (uint8 RGB)."""
    generator.eval()
    outputs = translate_batch(generator, [visible for visible, _ in pairs])
    generator.train()
    height0, width0 = pairs[0][1].shape
    size = (width, max(8, round(width * height0 / width0)))
    rows = []
    for (visible, infrared), output in zip(pairs, outputs, strict=True):
        panels = [visible, *(np.repeat(x[..., None], 3, axis=-1) for x in (output, infrared))]
        rows.append(
            np.concatenate(
                [cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in panels], axis=1
            )
        )
    return to_uint8(np.concatenate(rows, axis=0))


def train_translator(
    data: str | Path,
    run: str | Path,
    config: TrainTranslatorConfig,
    on_step: Callable[[int, int], None] | None = None,
) -> dict:
    """Train (or resume) in ``run``; returns the last validation scores."""
    run = Path(run)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    split = split_pairs(
        data,
        config.holdout_fraction,
        config.test_pairs,
        config.holdout_seed,
        config.source,
        config.target,
    )
    train = [load_pair(p, config.source) for p in split.train]
    validation = [load_pair(p, config.source) for p in split.validation]
    state = _State(config)
    checkpoint_path = run / "checkpoint.pt"
    if checkpoint_path.is_file():
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if from_dict(TrainTranslatorConfig, checkpoint["config"]).model != config.model:
            raise InputError(str(checkpoint_path), "was trained with another model config")
        state.load(checkpoint)
        logger.info("resuming from step %d", state.step)
    (run / "samples").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([config.seed, state.step])
    start, scores = time.monotonic(), {}
    settings = {"data": str(data), **to_dict(config)}
    with (run / "log.csv").open("a", newline="") as log:
        writer = csv.writer(log)
        while state.step < config.steps:
            if config.max_minutes and time.monotonic() - start > 60 * config.max_minutes:
                break
            visible, infrared = map(
                torch.from_numpy, random_crops(train, config.crop, config.batch_size, rng)
            )
            tick = time.monotonic()
            losses = training_step(state, visible, infrared, config)
            state.step += 1
            state.seconds += time.monotonic() - tick
            if state.step % config.log_every == 0:
                writer.writerow([state.step, time.time(), *(f"{v:.5f}" for v in losses.values())])
                log.flush()
            if state.step % config.validate_every == 0 or state.step == config.steps:
                scores = _validate(state, validation, run, settings)
            if state.step % config.checkpoint_every == 0:
                state.save(checkpoint_path, config)
            if on_step:
                on_step(state.step, config.steps)
    state.save(checkpoint_path, config)
    state.save_generator(run / "last.safetensors", settings)
    return scores


def _validate(state: _State, validation: list, run: Path, settings: dict) -> dict:
    scores = evaluate(state.generator, validation)
    logger.info("step %d: validation %s", state.step, scores)
    if scores["l1"] < state.best:
        state.best = scores["l1"]
        state.save_generator(run / "best.safetensors", settings, validation=scores)
    write_image(
        run / "samples" / f"step_{state.step:06d}.png",
        sample_sheet(state.generator, validation[:4]),
    )
    with (run / "validation.csv").open("a") as stream:
        stream.write(f"{state.step},{scores['ssim']:.5f},{scores['l1']:.5f}\n")
    return scores
