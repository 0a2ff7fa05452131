"""DCGAN training: one unconditional model per class (as the hESCnet study did), or for chosen classes
only (e.g. the minority class, for balancing).

Paper settings (Radford et al. 2016): Adam lr 2e-4, β1 0.5, batch 64, one D step per G step, z ~ N(0, I),
non-saturating G loss. Speed without changing the maths: channels-last tensors, one backward for D's
real and fake halves, fused Adam, and losses kept on the device until each logging window (no per-step
`.item()`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from simstudio.jobs import JobContext
from simstudio.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init
from simstudio.train.diffaugment import diff_augment
from simstudio.train.gan_checkpoints import load_gan_checkpoint, restore_training_state, rng_states
from simstudio.train.gan_samples import sample_diversity, to_uint8
from simstudio.train.gan_session import (
    GANConfigBase,
    GANDiverged,
    GANSession,
    ProgressClock,
    adam,
    apply_preset,
    check_common,
    check_images,
    class_rows,
    config_dict,
    eval_feature_space,
    pick_device,
    run_clock,
    steps_per_epoch,
)


@dataclass
class DCGANConfig(GANConfigBase):
    model: str = "dcgan"      # which loop trains it (fixed; lets a stored config name its trainer)
    classes: list[str] = field(default_factory=list)  # [] = one model for every class of the dataset
    nz: int = 100   # paper: 100 (128 is the other common choice)
    ngf: int = 64   # paper: 64
    ndf: int = 64   # paper: 64


# CPU presets finish in minutes on a laptop; the paper-sized ones want a GPU.
PRESETS: dict[str, dict] = {
    "cpu-32": dict(image_size=32, ngf=16, ndf=16, epochs=40, eval_every=5),
    "cpu-64": dict(image_size=64, ngf=32, ndf=32, epochs=30, eval_every=5),
    "paper-64": dict(image_size=64, ngf=64, ndf=64, epochs=500, eval_every=25, eval_samples=1000),
    "paper-128": dict(image_size=128, ngf=64, ndf=64, epochs=500, eval_every=25, eval_samples=1000),
}


def dcgan_config(preset: str = "", **overrides) -> DCGANConfig:
    return apply_preset(DCGANConfig, PRESETS, preset, **overrides)


def train_dcgan(config: DCGANConfig | dict, ctx: JobContext | None = None) -> dict:
    """The DCGAN job: load the dataset, then train (or resume) one model per chosen class."""
    from simstudio.data.dataset import load_dataset

    config = coerce_dcgan_config(config)
    ctx = ctx or JobContext.local()
    check_dcgan_config(config)
    dataset = load_dataset(config.dataset, size=config.image_size, ctx=ctx)
    classes = list(config.classes) or list(dataset.classes)
    rows = class_rows(dataset, classes, config.max_images, config.seed)
    images = {c: np.asarray(dataset.images[rows[c]]) for c in classes}
    clock = run_clock(ctx, config, {c: len(v) for c, v in images.items()}, config.epochs)
    space = eval_feature_space(config)
    models = {}
    for c in classes:
        models[c] = fit_dcgan(images[c], config, ctx, key=c, clock=clock, eval_space=space)
    clock.report("done")
    return {"model": "dcgan", "dataset": config.dataset, "classes": classes, "models": models,
            "images_per_s": clock.images_per_s()}


def fit_dcgan(images: np.ndarray, config: DCGANConfig | dict, ctx: JobContext | None = None,
              key: str = "model", clock: ProgressClock | None = None, eval_space=None) -> dict:
    """Train one DCGAN on uint8 images (N, S, S, 3); resumes from `checkpoints/<key>/last.pt` when the
    run already has one. Returns the model's summary (epochs, best KID, last losses, warnings)."""
    config = coerce_dcgan_config(config)
    ctx = ctx or JobContext.local()
    check_dcgan_config(config)
    images = check_images(images, config.image_size)
    device = pick_device(config.device)
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    spe = steps_per_epoch(len(images), config.batch_size)
    clock = clock or run_clock(ctx, config, {key: len(images)}, config.epochs)

    torch.manual_seed(config.seed + zlib.crc32(key.encode()))  # per-model init, reproducible
    G = DCGANGenerator(config.nz, config.ngf, config.image_size)
    D = DCGANDiscriminator(config.ndf, config.image_size)
    dcgan_init(G)
    dcgan_init(D)
    G, D = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)
    opt_g = adam(G, config, device)
    opt_d = adam(D, config, device)
    gen = torch.Generator().manual_seed(config.seed + zlib.crc32(key.encode()) + 1)
    fixed_noise = torch.randn(config.grid_size, config.nz, 1, 1,
                              generator=torch.Generator().manual_seed(config.seed))

    rng = np.random.default_rng(config.seed)
    eval_idx = rng.permutation(len(images))[:config.eval_samples]
    session = GANSession(ctx, key, config, total_epochs=config.epochs, steps_per_epoch=spe, clock=clock,
                         eval_real={key: images[eval_idx]}, eval_space=eval_space,
                         real_diversity=sample_diversity(images[rng.permutation(len(images))[:64]]))
    start, step = 0, 0
    ckpt = session.last_checkpoint()
    if ckpt is not None:
        restore_training_state(ckpt, {"G": G, "D": D}, {"G": opt_g, "D": opt_d}, gen, lr=config.lr)
        fixed_noise = ckpt["fixed_noise"]
        start, step = int(ckpt["epoch"]), int(ckpt["step"])
        ctx.log(f"{key}: resuming after epoch {start}")

    def state() -> dict:
        return {"model": "dcgan", "class_name": key, "classes": [key], "arch": _arch(config),
                "nets": {"G": G.state_dict(), "D": D.state_dict()},
                "optimizers": {"G": opt_g.state_dict(), "D": opt_d.state_dict()},
                "rng": rng_states(gen), "fixed_noise": fixed_noise, "config": config_dict(config)}

    def generate(n: int, seed: int) -> dict[str, np.ndarray]:
        z = torch.randn(n, config.nz, 1, 1, generator=torch.Generator().manual_seed(seed))
        return {key: _sample(G, z, device, fmt)}

    x_all = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device)  # uint8 on device
    ones = torch.ones(config.batch_size, device=device)
    zeros = torch.zeros(config.batch_size, device=device)
    policy = config.diffaugment
    try:
        for epoch in range(start, config.epochs):
            G.train()
            D.train()
            perm = torch.randperm(len(images), generator=gen)
            msg = f"{key}: epoch {epoch + 1}/{config.epochs}"
            for b in range(spe):
                ctx.check_cancel()
                idx = perm[b * config.batch_size:(b + 1) * config.batch_size].to(device)
                n = len(idx)
                real = x_all[idx].float().div_(127.5).sub_(1.0).contiguous(memory_format=fmt)
                z = torch.randn(n, config.nz, 1, 1, generator=gen).to(device)
                out = dcgan_step(G, D, opt_g, opt_d, real, z, policy, ones[:n], zeros[:n])
                step += 1
                session.record(n, msg, **out)
                if step % config.log_every == 0:
                    session.flush(epoch, step)
            session.flush(epoch, step)
            session.end_epoch(epoch, step, _sample(G, fixed_noise, device, fmt), state, generate)
    except GANDiverged as exc:
        return {**session.summary(), "epochs": start, "diverged": str(exc),
                "images_per_s": clock.images_per_s()}
    return {**session.summary(), "epochs": config.epochs, "images_per_s": clock.images_per_s()}


def dcgan_step(G, D, opt_g, opt_d, real: torch.Tensor, z: torch.Tensor, policy: str, ones: torch.Tensor,
               zeros: torch.Tensor) -> dict[str, torch.Tensor]:
    """One D step then one G step (Radford et al.: non-saturating G loss); returns detached scalars
    (losses, mean D(x), D(G(z)) before and after D's update) without syncing the device."""
    fake = G(z)
    # D: real → 1, fake → 0; one backward through both halves (the same gradient as two backwards)
    opt_d.zero_grad(set_to_none=True)
    d_real = D(diff_augment(real, policy))
    d_fake = D(diff_augment(fake.detach(), policy))
    loss_d = F.binary_cross_entropy_with_logits(d_real, ones) + F.binary_cross_entropy_with_logits(d_fake, zeros)
    loss_d.backward()
    opt_d.step()
    # G: fake → 1 through the updated D. D's weights are frozen for this backward: G's gradient needs
    # only dL/dx through D, and skipping D's weight gradients (which the next D step would discard)
    # saves about a third of D's backward.
    opt_g.zero_grad(set_to_none=True)
    D.requires_grad_(False)
    d_gen = D(diff_augment(fake, policy))
    loss_g = F.binary_cross_entropy_with_logits(d_gen, ones)
    loss_g.backward()
    D.requires_grad_(True)
    opt_g.step()
    with torch.no_grad():
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_x": torch.sigmoid(d_real).mean(),
                "d_g_z": torch.sigmoid(d_fake).mean(), "d_g_z2": torch.sigmoid(d_gen).mean()}


def coerce_dcgan_config(config) -> DCGANConfig:
    from simstudio.config import coerce_config

    return coerce_config(DCGANConfig, config)


def check_dcgan_config(config: DCGANConfig) -> None:
    from simstudio.nets.dcgan import IMAGE_SIZES

    if config.image_size not in IMAGE_SIZES:
        raise ValueError(f"DCGAN image size must be one of {IMAGE_SIZES}, got {config.image_size}")
    check_common(config)


def load_dcgan_generator(ckpt: dict | str, device: str | torch.device = "cpu") -> DCGANGenerator:
    """The generator of a DCGAN checkpoint, in eval mode."""
    ckpt = load_gan_checkpoint(ckpt) if not isinstance(ckpt, dict) else ckpt
    arch = ckpt["arch"]
    G = DCGANGenerator(arch["nz"], arch["ngf"], arch["image_size"])
    G.load_state_dict(ckpt["nets"]["G"])
    return G.to(device).eval()


# -- private helpers ----------------------------------------------------------------------------------

def _arch(config: DCGANConfig) -> dict:
    return {"nz": config.nz, "ngf": config.ngf, "ndf": config.ndf, "image_size": config.image_size}


@torch.no_grad()
def _sample(G: torch.nn.Module, z: torch.Tensor, device, fmt, batch: int = 256) -> np.ndarray:
    """uint8 samples from G in eval mode (batch-norm running statistics: a sample depends on its z only)."""
    was = G.training
    G.eval()
    out = [to_uint8(G(z[i:i + batch].to(device).contiguous(memory_format=fmt)))
           for i in range(0, len(z), batch)]
    G.train(was)
    return np.concatenate(out)
