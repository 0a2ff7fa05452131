"""GAN checkpoints: the full training state (networks, optimizers, schedulers, epoch, every RNG, fixed
noise, metric history, best score) as plain tensors and Python values, so `torch.load(weights_only=True)`
reads them back: a checkpoint is data, never code.

A run keeps one folder per model it trains: `checkpoints/<model key>/last.pt` (written after every
epoch, so Resume continues from the last finished one) and `best.pt` (the lowest KID seen, kept apart
because DCGANs often get worse late in training).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from simstudio.runs import atomic_write_bytes

FORMAT = "simstudio-gan-1"
MODEL_KINDS = ("dcgan", "acgan", "cyclegan")


def save_gan_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write `state` atomically (temp file + rename): a crash mid-save leaves the previous file whole."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_gan_checkpoint(path: str | os.PathLike) -> dict:
    """Read a GAN checkpoint (weights_only: tensors and plain values only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GAN checkpoint at {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a SimStudio GAN checkpoint")
    return ckpt


def rng_states(data_generator: torch.Generator) -> dict:
    """The RNGs a GAN step draws from: our data/noise generator, torch's global CPU (DiffAugment,
    dropout) and CUDA generators."""
    state = {"data": data_generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_states(state: dict, data_generator: torch.Generator) -> None:
    data_generator.set_state(state["data"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore_training_state(ckpt: dict, nets: dict, optimizers: dict, data_generator: torch.Generator,
                           lr: float | None = None) -> None:
    """Load a checkpoint's networks, optimizers and RNGs into the live objects (named as they were saved);
    with `lr`, every optimizer group gets it, since the loaded state carries the old lr and the config may
    set a new one."""
    for name, net in nets.items():
        net.load_state_dict(ckpt["nets"][name])
    for name, opt in optimizers.items():
        opt.load_state_dict(ckpt["optimizers"][name])
        if lr is not None:
            for group in opt.param_groups:
                group["lr"] = lr
    restore_rng_states(ckpt["rng"], data_generator)


def gan_checkpoints(ref: str | os.PathLike, which: str = "best") -> list[Path]:
    """A checkpoint file, a model folder, or a GAN run id/folder → the checkpoint files to generate from
    (one per model the run trained), preferring `which` ("best" or "last") and falling back to the other."""
    p = Path(ref)
    if p.is_file():
        return [p]
    if not p.is_dir():
        from simstudio.runs import open_run

        p = open_run(str(ref)).path
    base = p / "checkpoints" if (p / "checkpoints").is_dir() else p
    folders = [base] if _pick(base, which) else sorted(d for d in base.iterdir() if d.is_dir())
    files = [f for f in (_pick(d, which) for d in folders) if f is not None]
    if not files:
        raise FileNotFoundError(f"no GAN checkpoint (best.pt or last.pt) under {base}")
    return files


def _pick(folder: Path, which: str) -> Path | None:
    order = ("best.pt", "last.pt") if which == "best" else ("last.pt", "best.pt")
    for name in order:
        if (folder / name).is_file():
            return folder / name
    return None
