"""What every GAN training loop shares: the settings common to DCGAN, ACGAN and CycleGAN, the run-wide
progress clock (an ETA from measured throughput), and the per-model session that turns a loop's steps
into events, sample grids, fidelity checks, divergence/collapse warnings and checkpoints.

A loop calls `session.record(...)` each step with detached loss tensors (no per-step `.item()`, so no
device sync), `session.flush(...)` every `log_every` steps (one sync, NaN check, a metric event), and
`session.end_epoch(...)` after each epoch (samples, KID/FID every `eval_every` epochs, `last.pt` and,
when KID improved, `best.pt`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from simstudio.jobs import JobContext
from simstudio.train.gan_checkpoints import load_gan_checkpoint, save_gan_checkpoint
from simstudio.train.gan_samples import image_grid, progression_strip, sample_diversity, write_png

STRIP_ROWS = 8        # epochs shown in the progression strip
STRIP_SAMPLES = 8     # samples per epoch in the strip
DIVERSITY_RATIO = 0.25  # fake/real sample diversity below this → collapse warning


@dataclass
class GANConfigBase:
    """Settings every GAN loop takes. Paper defaults (DCGAN, Radford et al. 2016): Adam lr 2e-4,
    β1 0.5, batch 64, 64×64 images."""

    dataset: str = ""          # dataset run id or image folder (root/<class>/*)
    image_size: int = 64
    batch_size: int = 64
    epochs: int = 25
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    diffaugment: str = ""      # "" or ops from "color,translation,cutout" (Zhao et al. 2020)
    eval_every: int = 5        # KID/FID every K epochs (and at the end); 0 = never
    eval_features: str = "pixels"  # "pixels", "inception", or a classifier run id (domain space)
    eval_samples: int = 256    # generated (and at most real) images per fidelity check
    grid_size: int = 64        # fixed-noise samples in each epoch's grid
    log_every: int = 20        # steps per metric event (and per loss sync)
    collapse_d_loss: float = 0.05   # D loss below this ...
    collapse_patience: int = 300    # ... for this many steps → collapse warning
    max_images: int = 0        # cap on training images per model (0 = all)
    seed: int = 0
    device: str = ""           # "" = cuda, then mps, then cpu
    channels_last: bool = True
    preset: str = ""           # the preset these settings started from (recorded, not applied here)


class GANDiverged(RuntimeError):
    """A loss became NaN/inf: training of this model stops, its last good checkpoint is kept."""


class ProgressClock:
    """Steps done out of the total across every model a run trains; the ETA is the remaining steps at
    the rate measured in this session (sampling, evaluation and checkpoints included), not since the
    run was first started, so a resumed run gets an honest estimate too."""

    def __init__(self, ctx: JobContext, total_steps: int, done_steps: int = 0, interval_s: float = 0.5):
        self.ctx = ctx
        self.total = int(total_steps)
        self.done = int(done_steps)
        self._start_done = self.done
        self._t0 = time.perf_counter()
        self._interval = interval_s
        self._last = 0.0
        self.images = 0

    def images_per_s(self) -> float | None:
        elapsed = time.perf_counter() - self._t0
        return round(self.images / elapsed, 1) if self.images and elapsed > 0 else None

    def step(self, images: int, message: str) -> None:
        self.done += 1
        self.images += images
        now = time.perf_counter()
        if now - self._last >= self._interval or self.done >= self.total:
            self.report(message)

    def report(self, message: str) -> dict:
        self._last = time.perf_counter()
        elapsed = self._last - self._t0
        steps = self.done - self._start_done
        rate = steps / elapsed if elapsed > 0 and steps > 0 else None
        eta = (self.total - self.done) / rate if rate else None
        return self.ctx.report(
            "progress", done=self.done, total=self.total, message=message, elapsed_s=round(elapsed, 2),
            eta_s=None if eta is None else round(eta, 1),
            images_per_s=None if not elapsed or not self.images else round(self.images / elapsed, 1))


class GANSession:
    """One model's training bookkeeping inside a run (key = class name, "acgan", "x-to-y", ...)."""

    def __init__(self, ctx: JobContext, key: str, config: GANConfigBase, *, total_epochs: int,
                 steps_per_epoch: int, clock: ProgressClock, eval_real: dict[str, np.ndarray] | None = None,
                 eval_space=None, real_diversity: float | None = None):
        self.ctx, self.key, self.config = ctx, key, config
        self.total_epochs, self.steps_per_epoch, self.clock = total_epochs, steps_per_epoch, clock
        self.ckpt_dir = ctx.run_dir / "checkpoints" / key if ctx.run_dir is not None else None
        self.samples_dir = ctx.run_dir / "samples" / key if ctx.run_dir is not None else None
        self.eval_real = eval_real or {}
        self.eval_space = eval_space
        self._real_feats: dict[str, np.ndarray] = {}
        self.real_diversity = real_diversity
        self.best: dict = {}
        self.last_metrics: dict = {}
        self.warnings: list[dict] = []
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._low_d_steps = 0
        self._collapse_warned = False
        self._diversity_warned = False
        self._best_diversity = 0.0
        self._strip_rows: list[tuple[int, np.ndarray]] = []

    # -- resume -------------------------------------------------------------------------------------
    def last_checkpoint(self) -> dict | None:
        """The state saved after the last finished epoch, or None for a fresh start."""
        if self.ckpt_dir is None or not (self.ckpt_dir / "last.pt").is_file():
            return None
        ckpt = load_gan_checkpoint(self.ckpt_dir / "last.pt")
        self.best = dict(ckpt.get("best") or {})
        self._strip_rows = [(int(e), imgs.numpy()) for e, imgs in ckpt.get("strip", [])]
        return ckpt

    # -- per step -------------------------------------------------------------------------------------
    def record(self, images: int, message: str, **values: torch.Tensor) -> None:
        """Add one step's detached scalars to the running window; advance the progress clock."""
        for k, v in values.items():
            v = v.detach().float()
            self._sums[k] = self._sums[k] + v if k in self._sums else v.clone()
        self._count += 1
        self.clock.step(images, message)

    def flush(self, epoch: int, step: int) -> dict:
        """Window means as one metric event; raises GANDiverged on NaN/inf (after a warning event)."""
        if not self._count:
            return {}
        keys = list(self._sums)
        means = (torch.stack([self._sums[k] for k in keys]) / self._count).tolist()  # the one sync
        values = dict(zip(keys, means, strict=True))
        self._sums, n, self._count = {}, self._count, 0
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            msg = (f"{self.key}: {', '.join(bad)} became NaN/inf at epoch {epoch + 1}; training of this "
                   f"model stopped and its last good checkpoint (epoch {epoch}) is kept. Try a lower lr.")
            self.warn("nan", msg)
            raise GANDiverged(msg)
        self.last_metrics = values
        self.ctx.metric(model=self.key, epoch=epoch + 1, step=step,
                        **{k: round(v, 6) for k, v in values.items()})
        if "loss_d" in values:
            self._low_d_steps = self._low_d_steps + n if values["loss_d"] < self.config.collapse_d_loss else 0
            if self._low_d_steps >= self.config.collapse_patience and not self._collapse_warned:
                self._collapse_warned = True
                self.warn("collapse", f"{self.key}: D loss has stayed below {self.config.collapse_d_loss} "
                                      f"for {self._low_d_steps} steps: D wins outright and G gets no "
                                      f"gradient (try DiffAugment, a smaller D, or the best checkpoint).")
        return values

    # -- per epoch ------------------------------------------------------------------------------------
    def end_epoch(self, epoch: int, step: int, grid: np.ndarray, state: Callable[[], dict],
                  generate: Callable[[int, int], dict[str, np.ndarray]] | None, grid_nrow: int = 8) -> None:
        """After epoch `epoch` (0-based): save the sample grid and strip, check diversity, evaluate every
        `eval_every` epochs, write last.pt (and best.pt when KID improved)."""
        done = epoch + 1
        self._save_samples(done, grid, grid_nrow)
        self._check_diversity(done, grid)
        improved = False
        every = self.config.eval_every
        if generate is not None and self.eval_real and every > 0 and (done % every == 0
                                                                      or done == self.total_epochs):
            improved = self._evaluate(done, generate)
        if self.ckpt_dir is not None:
            ckpt = state()
            ckpt.update(epoch=done, step=step, best=self.best,
                        strip=[(e, torch.from_numpy(np.ascontiguousarray(r))) for e, r in self._strip_rows])
            save_gan_checkpoint(self.ckpt_dir / "last.pt", ckpt)
            self.ctx.report("checkpoint", model=self.key, epoch=done,
                            path=str((self.ckpt_dir / "last.pt").relative_to(self.ctx.run_dir)), best=False)
            if improved:
                save_gan_checkpoint(self.ckpt_dir / "best.pt", ckpt)
                self.ctx.report("checkpoint", model=self.key, epoch=done, best=True, kid=self.best.get("kid"),
                                path=str((self.ckpt_dir / "best.pt").relative_to(self.ctx.run_dir)))

    def warn(self, kind: str, message: str) -> None:
        event = self.ctx.report("warning", model=self.key, kind=kind, message=message)
        self.warnings.append(event)
        self.ctx.log(message, level="warning")

    def summary(self) -> dict:
        return {"best": self.best, "last_metrics": self.last_metrics,
                "warnings": [w["message"] for w in self.warnings]}

    # -- internals --------------------------------------------------------------------------------------
    def _save_samples(self, epoch: int, grid: np.ndarray, nrow: int) -> None:
        self._strip_rows.append((epoch, grid[:STRIP_SAMPLES].copy()))
        self._strip_rows = _thin(self._strip_rows, STRIP_ROWS)
        if self.samples_dir is None:
            return
        name = f"epoch_{epoch:05d}.png"
        write_png(self.samples_dir / name, image_grid(grid, nrow=nrow))
        write_png(self.samples_dir / "progression.png", progression_strip(self._strip_rows))
        self._prune_grids(epoch)
        rel = Path("samples") / self.key
        self.ctx.report("image", model=self.key, epoch=epoch, path=str(rel / name),
                        progression=str(rel / "progression.png"))

    def _prune_grids(self, epoch: int) -> None:
        """Keep every grid of the first 10 epochs, then ~50 spread over training, plus the latest."""
        keep_every = max(1, self.total_epochs // 50)
        for p in self.samples_dir.glob("epoch_*.png"):
            e = int(p.stem.split("_")[1])
            if e != epoch and e > 10 and e % keep_every != 0:
                p.unlink(missing_ok=True)

    def _check_diversity(self, epoch: int, grid: np.ndarray) -> None:
        """Warn when samples vary far less than real images: either diversity has collapsed to under half
        its best so far, or a quarter of training has passed without it ever appearing (an untrained G
        makes near-identical images, which is no collapse yet)."""
        if not self.real_diversity or len(grid) < 4:
            return
        ratio = sample_diversity(grid) / self.real_diversity
        self._best_diversity = max(self._best_diversity, ratio)
        collapsed = ratio < 0.5 * self._best_diversity
        never = epoch >= max(2, self.total_epochs / 4)
        if ratio < DIVERSITY_RATIO and (collapsed or never):
            if not self._diversity_warned:
                self._diversity_warned = True
                how = "down from its best" if collapsed else "after a quarter of training"
                self.warn("diversity", f"{self.key}: samples at epoch {epoch} vary {ratio:.0%} as much as "
                                       f"real images do ({how}): likely mode collapse (try DiffAugment or an "
                                       f"earlier checkpoint).")
        elif ratio >= DIVERSITY_RATIO:
            self._diversity_warned = False

    def _evaluate(self, epoch: int, generate: Callable[[int, int], dict[str, np.ndarray]]) -> bool:
        from simstudio.eval.fidelity import extract_features, fidelity_from_features

        t0 = time.perf_counter()
        fakes = generate(self.config.eval_samples, self.config.seed * 1_000_003 + epoch)
        per_group = {}
        for group, fake in fakes.items():
            real = self.eval_real.get(group)
            if real is None or len(real) < 2 or len(fake) < 2:
                continue
            if group not in self._real_feats:
                self._real_feats[group] = extract_features(real, self.eval_space)
            f_fake = extract_features(fake, self.eval_space, cache=False)
            per_group[group] = fidelity_from_features(self._real_feats[group], f_fake, self.eval_space,
                                                      kid_subsets=50, kid_subset_size=1000,
                                                      seed=self.config.seed)
        if not per_group:
            return False
        kid = float(np.mean([r["kid"] for r in per_group.values()]))
        fid = float(np.mean([r["fid"] for r in per_group.values()]))
        first = next(iter(per_group.values()))
        event = {"model": self.key, "epoch": epoch, "kid": kid, "fid": fid,
                 "kid_std": float(np.mean([r["kid_std"] for r in per_group.values()])),
                 "feature_space": first["feature_space"], "resize": first["resize"],
                 "n_real": int(sum(r["n_real"] for r in per_group.values())),
                 "n_fake": int(sum(r["n_fake"] for r in per_group.values())),
                 "fid_reliable": all(r["fid_reliable"] for r in per_group.values()),
                 "seconds": round(time.perf_counter() - t0, 2)}
        if len(per_group) > 1:
            event["per_class"] = {g: {"kid": r["kid"], "fid": r["fid"]} for g, r in per_group.items()}
        self.ctx.report("fidelity", **event)
        improved = not self.best or kid < self.best.get("kid", math.inf)
        if improved:
            self.best = {"kid": kid, "fid": fid, "epoch": epoch, "feature_space": event["feature_space"]}
        return improved


def _thin(rows: list[tuple[int, np.ndarray]], keep: int) -> list[tuple[int, np.ndarray]]:
    """At most `keep` rows, always the first and the latest: drop the inner row whose neighbours are
    closest in epochs, so the rows stay spread evenly over training."""
    rows = list(rows)
    while len(rows) > keep >= 2:
        i = min(range(1, len(rows) - 1), key=lambda j: rows[j + 1][0] - rows[j - 1][0])
        del rows[i]
    return rows


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    return max(1, math.ceil(n_images / batch_size))


def pick_device(device: str) -> torch.device:
    if device:
        return torch.device(device)
    from simstudio.device import default_device

    return torch.device(default_device())


def apply_preset(config_cls, presets: dict[str, dict], name: str, **overrides):
    """A config from preset `name` (its values, then `overrides`), recording the preset's name."""
    if name and name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
    values = {**(presets.get(name, {}) if name else {}), **overrides}
    return config_cls(**values, preset=name) if name else config_cls(**values)


def class_rows(dataset, classes: list[str], max_images: int = 0, seed: int = 0) -> dict[str, np.ndarray]:
    """Row indices of each requested class in `dataset` (capped at `max_images`, a seeded subset)."""
    missing = [c for c in classes if c not in dataset.classes]
    if missing:
        raise ValueError(f"class(es) {', '.join(missing)} not in the dataset; "
                         f"it has {', '.join(dataset.classes)}")
    rng = np.random.default_rng(seed)
    out = {}
    for c in classes:
        rows = np.flatnonzero(dataset.labels == dataset.classes.index(c))
        if len(rows) == 0:
            raise ValueError(f"class {c!r} has no images in the dataset")
        if max_images and len(rows) > max_images:
            rows = np.sort(rng.choice(rows, max_images, replace=False))
        out[c] = rows
    return out


def check_common(config: GANConfigBase) -> None:
    """Refuse settings no GAN can train with, before any work."""
    from simstudio.train.diffaugment import parse_policy

    for name in ("batch_size", "epochs", "grid_size", "log_every"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    if not config.lr > 0:
        raise ValueError(f"lr must be positive, got {config.lr}")
    if not (0 <= config.beta1 < 1 and 0 <= config.beta2 < 1):
        raise ValueError(f"Adam betas must be in [0, 1), got {config.beta1}, {config.beta2}")
    if config.eval_every < 0 or (config.eval_every and config.eval_samples < 2):
        raise ValueError("eval_every must be >= 0 and eval_samples at least 2 when evaluating")
    parse_policy(config.diffaugment)


def check_images(images: np.ndarray, size: int) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (size, size, 3) or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images (N, {size}, {size}, 3), got {images.dtype} {images.shape}")
    if len(images) < 2:
        raise ValueError(f"a GAN needs at least 2 training images, got {len(images)}")
    return images


def adam(module: torch.nn.Module, config: GANConfigBase, device: torch.device, lr: float | None = None):
    """Adam with the config's betas; fused (one kernel per step, not one per parameter) where supported."""
    fused = device.type in ("cuda", "cpu")
    return torch.optim.Adam(module.parameters(), lr=lr or config.lr, betas=(config.beta1, config.beta2),
                            fused=fused)


def run_clock(ctx: JobContext, config: GANConfigBase, counts: dict[str, int], epochs: int) -> ProgressClock:
    """Progress over every model of the run, counting epochs already in their last.pt as done."""
    total = done = 0
    for key, n in counts.items():
        spe = steps_per_epoch(n, config.batch_size)
        total += epochs * spe
        last = ctx.run_dir / "checkpoints" / key / "last.pt" if ctx.run_dir is not None else None
        if last is not None and last.is_file():
            done += min(epochs, int(load_gan_checkpoint(last)["epoch"])) * spe
    return ProgressClock(ctx, total, done)


def eval_feature_space(config: GANConfigBase):
    """The feature space of the periodic KID/FID check (None when evaluation is off)."""
    if not config.eval_every:
        return None
    from simstudio.eval.fidelity import feature_space

    return feature_space(config.eval_features, device=config.device or None)


def config_dict(config) -> dict:
    from simstudio.config import config_to_dict

    return config_to_dict(config)
