"""ACGAN training: one class-conditional model for all chosen classes (Odena et al. 2017).

D maximises log-likelihood of the right source (real/fake) plus the right class on both real and fake
images; G maximises the likelihood of "real" and of the class it was asked for. Optimiser settings follow
DCGAN (Adam lr 2e-4, β1 0.5, batch 64); labels for fakes are drawn uniformly over the classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from simstudio.jobs import JobContext
from simstudio.nets.acgan import ACGANDiscriminator, ACGANGenerator
from simstudio.nets.dcgan import IMAGE_SIZES, dcgan_init
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
    class_rows,
    config_dict,
    eval_feature_space,
    pick_device,
    run_clock,
    steps_per_epoch,
)

MODEL_KEY = "acgan"


@dataclass
class ACGANConfig(GANConfigBase):
    model: str = "acgan"      # which loop trains it (fixed; lets a stored config name its trainer)
    classes: list[str] = field(default_factory=list)  # [] = every class of the dataset (at least 2)
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    aux_weight: float = 1.0   # weight of the class log-likelihood in both losses (paper: 1)
    d_dropout: float = 0.0    # dropout in D's trunk (the paper used 0.5 on CIFAR-10)


PRESETS: dict[str, dict] = {
    "cpu-32": dict(image_size=32, ngf=16, ndf=16, epochs=30, eval_every=5),
    "cpu-64": dict(image_size=64, ngf=32, ndf=32, epochs=25, eval_every=5),
    "paper-64": dict(image_size=64, ngf=64, ndf=64, epochs=500, eval_every=25, eval_samples=1000),
    "paper-128": dict(image_size=128, ngf=64, ndf=64, epochs=500, eval_every=25, eval_samples=1000),
}


def acgan_config(preset: str = "", **overrides) -> ACGANConfig:
    return apply_preset(ACGANConfig, PRESETS, preset, **overrides)


def train_acgan(config: ACGANConfig | dict, ctx: JobContext | None = None) -> dict:
    """The ACGAN job: load the dataset, train (or resume) one conditional model over the chosen classes."""
    from simstudio.data.dataset import load_dataset

    config = coerce_acgan_config(config)
    ctx = ctx or JobContext.local()
    check_acgan_config(config)
    dataset = load_dataset(config.dataset, size=config.image_size, ctx=ctx)
    classes = list(config.classes) or list(dataset.classes)
    rows = class_rows(dataset, classes, config.max_images, config.seed)
    order = np.concatenate([rows[c] for c in classes])
    labels = np.concatenate([np.full(len(rows[c]), i) for i, c in enumerate(classes)])
    images = np.asarray(dataset.images[order])
    clock = run_clock(ctx, config, {MODEL_KEY: len(images)}, config.epochs)
    summary = fit_acgan(images, labels, classes, config, ctx, clock=clock,
                        eval_space=eval_feature_space(config))
    clock.report("done")
    return {"model": "acgan", "dataset": config.dataset, "classes": classes, "models": {MODEL_KEY: summary},
            "images_per_s": clock.images_per_s()}


def fit_acgan(images: np.ndarray, labels: np.ndarray, classes: list[str], config: ACGANConfig | dict,
              ctx: JobContext | None = None, clock: ProgressClock | None = None, eval_space=None) -> dict:
    """Train one ACGAN on uint8 images (N, S, S, 3) with labels indexing `classes`; resumes from
    `checkpoints/acgan/last.pt` when present."""
    from simstudio.train.gan_session import check_images

    config = coerce_acgan_config(config)
    ctx = ctx or JobContext.local()
    check_acgan_config(config)
    images = check_images(images, config.image_size)
    labels = np.asarray(labels, dtype=np.int64)
    k = len(classes)
    if k < 2 or labels.shape != (len(images),) or labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"ACGAN needs at least 2 classes and one label in 0..{k - 1} per image")
    device = pick_device(config.device)
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    spe = steps_per_epoch(len(images), config.batch_size)
    clock = clock or run_clock(ctx, config, {MODEL_KEY: len(images)}, config.epochs)

    torch.manual_seed(config.seed)
    G = ACGANGenerator(k, config.nz, config.ngf, config.image_size)
    D = ACGANDiscriminator(k, config.ndf, config.image_size, dropout=config.d_dropout)
    dcgan_init(G)
    dcgan_init(D)
    G, D = G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)
    opt_g, opt_d = adam(G, config, device), adam(D, config, device)
    gen = torch.Generator().manual_seed(config.seed + 1)
    per_class = max(1, config.grid_size // k)
    fixed_noise = torch.randn(per_class, config.nz, generator=torch.Generator().manual_seed(config.seed))
    fixed_noise = fixed_noise.repeat(k, 1)  # the same z in every class row: class is the only change
    fixed_labels = torch.arange(k).repeat_interleave(per_class)

    rng = np.random.default_rng(config.seed)
    eval_real = {}
    for i, c in enumerate(classes):
        rows = np.flatnonzero(labels == i)
        eval_real[c] = images[rng.permutation(rows)[:max(2, config.eval_samples // k)]]
    diversity = np.mean([sample_diversity(images[rng.permutation(np.flatnonzero(labels == i))[:64]])
                         for i in range(k)])
    session = GANSession(ctx, MODEL_KEY, config, total_epochs=config.epochs, steps_per_epoch=spe, clock=clock,
                         eval_real=eval_real, eval_space=eval_space, real_diversity=float(diversity))
    start, step = 0, 0
    ckpt = session.last_checkpoint()
    if ckpt is not None:
        restore_training_state(ckpt, {"G": G, "D": D}, {"G": opt_g, "D": opt_d}, gen, lr=config.lr)
        fixed_noise, fixed_labels = ckpt["fixed_noise"], ckpt["fixed_labels"]
        start, step = int(ckpt["epoch"]), int(ckpt["step"])
        ctx.log(f"acgan: resuming after epoch {start}")

    def state() -> dict:
        return {"model": "acgan", "class_name": "", "classes": list(classes),
                "arch": {"nz": config.nz, "ngf": config.ngf, "ndf": config.ndf,
                         "image_size": config.image_size, "num_classes": k, "d_dropout": config.d_dropout},
                "nets": {"G": G.state_dict(), "D": D.state_dict()},
                "optimizers": {"G": opt_g.state_dict(), "D": opt_d.state_dict()},
                "rng": rng_states(gen), "fixed_noise": fixed_noise, "fixed_labels": fixed_labels,
                "config": config_dict(config)}

    def generate(n: int, seed: int) -> dict[str, np.ndarray]:
        g = torch.Generator().manual_seed(seed)
        m = max(2, n // k)
        return {c: sample_acgan(G, torch.randn(m, config.nz, generator=g), torch.full((m,), i), device, fmt)
                for i, c in enumerate(classes)}

    x_all = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(device)
    y_all = torch.from_numpy(labels).to(device)
    ones = torch.ones(config.batch_size, device=device)
    zeros = torch.zeros(config.batch_size, device=device)
    policy, w = config.diffaugment, config.aux_weight
    try:
        for epoch in range(start, config.epochs):
            G.train()
            D.train()
            perm = torch.randperm(len(images), generator=gen)
            msg = f"acgan: epoch {epoch + 1}/{config.epochs}"
            for b in range(spe):
                ctx.check_cancel()
                idx = perm[b * config.batch_size:(b + 1) * config.batch_size].to(device)
                n = len(idx)
                real = x_all[idx].float().div_(127.5).sub_(1.0).contiguous(memory_format=fmt)
                y_real = y_all[idx]
                z = torch.randn(n, config.nz, generator=gen).to(device)
                y_fake = torch.randint(0, k, (n,), generator=gen).to(device)
                fake = G(z, y_fake)
                opt_d.zero_grad(set_to_none=True)
                adv_real, cls_real = D(diff_augment(real, policy))
                adv_fake, cls_fake = D(diff_augment(fake.detach(), policy))
                loss_d = (F.binary_cross_entropy_with_logits(adv_real, ones[:n])
                          + F.binary_cross_entropy_with_logits(adv_fake, zeros[:n])
                          + w * (F.cross_entropy(cls_real, y_real) + F.cross_entropy(cls_fake, y_fake)))
                loss_d.backward()
                opt_d.step()
                opt_g.zero_grad(set_to_none=True)
                D.requires_grad_(False)  # G needs dL/dx through D, not D's weight gradients
                adv_gen, cls_gen = D(diff_augment(fake, policy))
                loss_g = (F.binary_cross_entropy_with_logits(adv_gen, ones[:n])
                          + w * F.cross_entropy(cls_gen, y_fake))
                loss_g.backward()
                D.requires_grad_(True)
                opt_g.step()
                step += 1
                with torch.no_grad():
                    session.record(n, msg, loss_d=loss_d, loss_g=loss_g, d_x=torch.sigmoid(adv_real).mean(),
                                   d_g_z=torch.sigmoid(adv_fake).mean(), d_g_z2=torch.sigmoid(adv_gen).mean(),
                                   class_acc_real=(cls_real.argmax(1) == y_real).float().mean(),
                                   class_acc_fake=(cls_gen.argmax(1) == y_fake).float().mean())
                if step % config.log_every == 0:
                    session.flush(epoch, step)
            session.flush(epoch, step)
            grid = sample_acgan(G, fixed_noise, fixed_labels, device, fmt)
            session.end_epoch(epoch, step, grid, state, generate, grid_nrow=min(per_class, 8))
    except GANDiverged as exc:
        return {**session.summary(), "epochs": start, "diverged": str(exc),
                "images_per_s": clock.images_per_s()}
    return {**session.summary(), "epochs": config.epochs, "images_per_s": clock.images_per_s()}


@torch.no_grad()
def sample_acgan(G: ACGANGenerator, z: torch.Tensor, labels: torch.Tensor, device,
                 fmt=torch.contiguous_format, batch: int = 256) -> np.ndarray:
    """uint8 samples of the given classes from G in eval mode."""
    was = G.training
    G.eval()
    out = [to_uint8(G(z[i:i + batch].to(device), labels[i:i + batch].to(device)))
           for i in range(0, len(z), batch)]
    G.train(was)
    return np.concatenate(out)


def load_acgan_generator(ckpt: dict | str, device: str | torch.device = "cpu") -> ACGANGenerator:
    ckpt = load_gan_checkpoint(ckpt) if not isinstance(ckpt, dict) else ckpt
    arch = ckpt["arch"]
    G = ACGANGenerator(arch["num_classes"], arch["nz"], arch["ngf"], arch["image_size"])
    G.load_state_dict(ckpt["nets"]["G"])
    return G.to(device).eval()


def coerce_acgan_config(config) -> ACGANConfig:
    from simstudio.config import coerce_config

    return coerce_config(ACGANConfig, config)


def check_acgan_config(config: ACGANConfig) -> None:
    if config.image_size not in IMAGE_SIZES:
        raise ValueError(f"ACGAN image size must be one of {IMAGE_SIZES}, got {config.image_size}")
    if config.classes and len(config.classes) < 2:
        raise ValueError("ACGAN is class-conditional: choose at least 2 classes (or none for all)")
    if config.aux_weight < 0 or not 0 <= config.d_dropout < 1:
        raise ValueError("aux_weight must be >= 0 and d_dropout in [0, 1)")
    check_common(config)
