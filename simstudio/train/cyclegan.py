"""CycleGAN training between two image domains (Zhu et al. 2017), with two dermoscopy uses:

- class → class translation (e.g. nevus → melanoma) where X and Y are two real classes; the
  Path-Rank-Filter can keep only the top α of Y by a classifier's confidence;
- the ACGAN → per-class CycleGAN refinement chain: for each class c, X = images an upstream GAN run
  generates for c and Y = the real images of c, so the CycleGAN learns to make synthetic images look real.

Paper settings: least-squares adversarial loss, cycle loss λ = 10, identity loss 0.5·λ, a 50-image
history pool for D, Adam lr 2e-4, β1 0.5, batch 1, lr constant for 100 epochs then linearly to 0 over 100.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from simstudio.jobs import JobContext
from simstudio.nets.cyclegan import ImagePool, PatchDiscriminator, ResnetGenerator, linear_decay
from simstudio.nets.dcgan import dcgan_init
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
    config_dict,
    eval_feature_space,
    pick_device,
    run_clock,
    steps_per_epoch,
)

IMAGE_SIZES = (32, 64, 128, 256)


@dataclass
class CycleGANConfig(GANConfigBase):
    model: str = "cyclegan"      # which loop trains it (fixed; lets a stored config name its trainer)
    x_class: str = ""          # domain X (e.g. "nevus"); ignored in chain mode
    y_class: str = ""          # domain Y (e.g. "melanoma"); ignored in chain mode
    chain_from: str = ""       # refinement chain: GAN run id whose samples of each class are X
    chain_classes: list[str] = field(default_factory=list)  # chain: classes to refine ([] = all it makes)
    chain_samples: int = 500   # chain: generated X images per class
    prf_classifier: str = ""   # Path-Rank-Filter: classifier run id / checkpoint ("" = off)
    prf_alpha: float = 1.0     # keep the top α of Y by confidence (paper: 1/8, 1/4, 1/2, 1)
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 0          # residual blocks in G (0 = paper: 6 below 256 px, 9 at 256 px)
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # × lambda_cycle (paper: 0.5)
    pool_size: int = 50
    epochs_decay: int = 100    # after `epochs` at constant lr, this many with lr → 0
    image_size: int = 128
    batch_size: int = 1
    epochs: int = 100


PRESETS: dict[str, dict] = {
    "cpu-32": dict(image_size=32, ngf=16, ndf=16, n_blocks=3, batch_size=4, epochs=10, epochs_decay=10,
                   eval_every=5),
    "cpu-64": dict(image_size=64, ngf=16, ndf=32, n_blocks=6, batch_size=4, epochs=10, epochs_decay=10,
                   eval_every=5),
    "paper-128": dict(image_size=128, ngf=64, ndf=64, n_blocks=6, batch_size=1, epochs=100, epochs_decay=100,
                      eval_every=10),
    "paper-256": dict(image_size=256, ngf=64, ndf=64, n_blocks=9, batch_size=1, epochs=100, epochs_decay=100,
                      eval_every=10),
}


def cyclegan_config(preset: str = "", **overrides) -> CycleGANConfig:
    return apply_preset(CycleGANConfig, PRESETS, preset, **overrides)


def train_cyclegan(config: CycleGANConfig | dict, ctx: JobContext | None = None) -> dict:
    """The CycleGAN job: one X → Y model, or one refinement model per class in chain mode."""
    from simstudio.data.dataset import load_dataset

    config = coerce_cyclegan_config(config)
    ctx = ctx or JobContext.local()
    check_cyclegan_config(config)
    dataset = load_dataset(config.dataset, size=config.image_size, ctx=ctx)
    pairs = _domain_pairs(config, dataset, ctx)
    total = config.epochs + config.epochs_decay
    clock = run_clock(ctx, config, {k: max(len(x), len(y)) for k, (x, y, _) in pairs.items()}, total)
    space = eval_feature_space(config)
    models = {}
    for key, (x, y, info) in pairs.items():
        models[key] = {**fit_cyclegan(x, y, config, ctx, key=key, clock=clock, eval_space=space,
                                      domains=info), **{k: v for k, v in info.items() if k != "prf_indices"}}
    clock.report("done")
    return {"model": "cyclegan", "dataset": config.dataset, "models": models,
            "images_per_s": clock.images_per_s()}


def fit_cyclegan(x_images: np.ndarray, y_images: np.ndarray, config: CycleGANConfig | dict,
                 ctx: JobContext | None = None, key: str = "x-to-y", clock: ProgressClock | None = None,
                 eval_space=None, domains: dict | None = None) -> dict:
    """Train G: X → Y and F: Y → X on uint8 image arrays; resumes from `checkpoints/<key>/last.pt`.

    `domains` (x_class, y_class, x_source, class_name) is stored in the checkpoint for generation."""
    config = coerce_cyclegan_config(config)
    ctx = ctx or JobContext.local()
    check_cyclegan_config(config, domains=False)
    x_images = check_images(x_images, config.image_size)
    y_images = check_images(y_images, config.image_size)
    domains = {"x_class": config.x_class, "y_class": config.y_class, "x_source": "", "class_name": key,
               **(domains or {})}
    device = pick_device(config.device)
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    total_epochs = config.epochs + config.epochs_decay
    n = max(len(x_images), len(y_images))
    spe = steps_per_epoch(n, config.batch_size)
    clock = clock or run_clock(ctx, config, {key: n}, total_epochs)
    n_blocks = config.n_blocks or (9 if config.image_size >= 256 else 6)
    n_layers = 3 if config.image_size >= 32 else 2  # 70×70 PatchGAN needs ≥ 32 px

    torch.manual_seed(config.seed + zlib.crc32(key.encode()))
    nets = {"G": ResnetGenerator(ngf=config.ngf, n_blocks=n_blocks),
            "F": ResnetGenerator(ngf=config.ngf, n_blocks=n_blocks),
            "D_X": PatchDiscriminator(ndf=config.ndf, n_layers=n_layers),
            "D_Y": PatchDiscriminator(ndf=config.ndf, n_layers=n_layers)}
    for net in nets.values():
        dcgan_init(net)  # the paper's N(0, 0.02) init
    nets = {k: v.to(device, memory_format=fmt) for k, v in nets.items()}
    G, Fy, D_X, D_Y = nets["G"], nets["F"], nets["D_X"], nets["D_Y"]
    gens = torch.nn.ModuleList([G, Fy])
    discs = torch.nn.ModuleList([D_X, D_Y])
    opt_g, opt_d = adam(gens, config, device), adam(discs, config, device)
    gen = torch.Generator().manual_seed(config.seed + zlib.crc32(key.encode()) + 1)
    pool_x, pool_y = ImagePool(config.pool_size, gen), ImagePool(config.pool_size, gen)
    pick = np.random.default_rng(config.seed)
    k = min(8, len(x_images), len(y_images))
    fixed_x = torch.from_numpy(x_images[pick.permutation(len(x_images))[:k]].copy())
    fixed_y = torch.from_numpy(y_images[pick.permutation(len(y_images))[:k]].copy())
    eval_x = x_images[pick.permutation(len(x_images))[:config.eval_samples]]
    eval_y = y_images[pick.permutation(len(y_images))[:config.eval_samples]]
    session = GANSession(ctx, key, config, total_epochs=total_epochs, steps_per_epoch=spe, clock=clock,
                         eval_real={key: eval_y}, eval_space=eval_space,
                         real_diversity=sample_diversity(eval_y[:64]))
    start, step = 0, 0
    ckpt = session.last_checkpoint()
    if ckpt is not None:
        # no lr override: the linear-decay schedule sets each epoch's lr itself
        restore_training_state(ckpt, nets, {"G": opt_g, "D": opt_d}, gen)
        pool_x.load_state(ckpt["pool_x"], device)
        pool_y.load_state(ckpt["pool_y"], device)
        start, step = int(ckpt["epoch"]), int(ckpt["step"])
        ctx.log(f"{key}: resuming after epoch {start}")

    def state() -> dict:
        return {"model": "cyclegan", "classes": [domains["y_class"] or key], **domains,
                "arch": {"ngf": config.ngf, "ndf": config.ndf, "n_blocks": n_blocks, "n_layers": n_layers,
                         "image_size": config.image_size},
                "nets": {k: v.state_dict() for k, v in nets.items()},
                "optimizers": {"G": opt_g.state_dict(), "D": opt_d.state_dict()},
                "pool_x": pool_x.state(), "pool_y": pool_y.state(), "rng": rng_states(gen),
                "config": config_dict(config)}

    def generate(count: int, seed: int) -> dict[str, np.ndarray]:
        return {key: _translate(G, eval_x[:count], device, fmt)}

    x_all = torch.from_numpy(np.ascontiguousarray(x_images)).permute(0, 3, 1, 2).to(device)
    y_all = torch.from_numpy(np.ascontiguousarray(y_images)).permute(0, 3, 1, 2).to(device)
    lam, policy = config.lambda_cycle, config.diffaugment
    lam_id = config.lambda_cycle * config.lambda_identity
    try:
        for epoch in range(start, total_epochs):
            lr = config.lr * linear_decay(epoch, config.epochs, config.epochs_decay)
            for opt in (opt_g, opt_d):
                for group in opt.param_groups:
                    group["lr"] = lr
            perm_x = _cycled_perm(len(x_images), n, gen)
            perm_y = _cycled_perm(len(y_images), n, gen)
            msg = f"{key}: epoch {epoch + 1}/{total_epochs}"
            for b in range(spe):
                ctx.check_cancel()
                sl = slice(b * config.batch_size, (b + 1) * config.batch_size)
                real_x = _to_float(x_all[perm_x[sl].to(device)], fmt)
                real_y = _to_float(y_all[perm_y[sl].to(device)], fmt)
                # generators: adversarial (LSGAN) + cycle + identity; D frozen for this step
                discs.requires_grad_(False)
                opt_g.zero_grad(set_to_none=True)
                fake_y, fake_x = G(real_x), Fy(real_y)
                rec_x, rec_y = Fy(fake_y), G(fake_x)
                loss_adv = (_lsgan(D_Y(diff_augment(fake_y, policy)), 1.0)
                            + _lsgan(D_X(diff_augment(fake_x, policy)), 1.0))
                loss_cycle = F.l1_loss(rec_x, real_x) + F.l1_loss(rec_y, real_y)
                loss_idt = (F.l1_loss(G(real_y), real_y) + F.l1_loss(Fy(real_x), real_x)) if lam_id > 0 \
                    else torch.zeros((), device=device)
                loss_g = loss_adv + lam * loss_cycle + lam_id * loss_idt
                loss_g.backward()
                opt_g.step()
                # discriminators: real → 1, pooled fakes → 0, halved as in the paper
                discs.requires_grad_(True)
                opt_d.zero_grad(set_to_none=True)
                d_real_y = D_Y(diff_augment(real_y, policy))
                d_fake_y = D_Y(diff_augment(pool_y.query(fake_y), policy))
                d_real_x = D_X(diff_augment(real_x, policy))
                d_fake_x = D_X(diff_augment(pool_x.query(fake_x), policy))
                loss_d = 0.5 * (_lsgan(d_real_y, 1.0) + _lsgan(d_fake_y, 0.0)) \
                    + 0.5 * (_lsgan(d_real_x, 1.0) + _lsgan(d_fake_x, 0.0))
                loss_d.backward()
                opt_d.step()
                step += 1
                session.record(len(real_x), msg, loss_d=loss_d, loss_g=loss_g, loss_cycle=loss_cycle,
                               loss_idt=loss_idt, d_x=d_real_y.mean(), d_g_z=d_fake_y.mean())
                if step % config.log_every == 0:
                    session.flush(epoch, step)
            session.flush(epoch, step)
            grid = np.concatenate([fixed_x.numpy(), _translate(G, fixed_x.numpy(), device, fmt),
                                   fixed_y.numpy(), _translate(Fy, fixed_y.numpy(), device, fmt)])
            session.end_epoch(epoch, step, grid, state, generate, grid_nrow=k)
    except GANDiverged as exc:
        return {**session.summary(), "epochs": start, "diverged": str(exc),
                "images_per_s": clock.images_per_s()}
    return {**session.summary(), "epochs": total_epochs, "images_per_s": clock.images_per_s()}


def load_cyclegan_generator(ckpt: dict | str, which: str = "G", device: str | torch.device = "cpu"):
    """G (X → Y) or F (Y → X) of a CycleGAN checkpoint, in eval mode."""
    ckpt = load_gan_checkpoint(ckpt) if not isinstance(ckpt, dict) else ckpt
    arch = ckpt["arch"]
    net = ResnetGenerator(ngf=arch["ngf"], n_blocks=arch["n_blocks"])
    net.load_state_dict(ckpt["nets"][which])
    return net.to(device).eval()


def coerce_cyclegan_config(config) -> CycleGANConfig:
    from simstudio.config import coerce_config

    return coerce_config(CycleGANConfig, config)


def check_cyclegan_config(config: CycleGANConfig, domains: bool = True) -> None:
    """Refuse bad settings; `domains=False` skips the X/Y class choice (training on given arrays)."""
    if config.image_size not in IMAGE_SIZES:
        raise ValueError(f"CycleGAN image size must be one of {IMAGE_SIZES}, got {config.image_size}")
    if not 0 < config.prf_alpha <= 1:
        raise ValueError(f"prf_alpha must be in (0, 1], got {config.prf_alpha}")
    two_classes = config.x_class and config.y_class and config.x_class != config.y_class
    if domains and not config.chain_from and not two_classes:
        raise ValueError("choose two different classes for domains X and Y (e.g. nevus → melanoma), "
                         "or a GAN run for the refinement chain")
    if min(config.lambda_cycle, config.lambda_identity, config.epochs_decay, config.pool_size) < 0:
        raise ValueError("lambda_cycle, lambda_identity, epochs_decay and pool_size must be >= 0")
    check_common(config)


# -- private helpers ----------------------------------------------------------------------------------

def _domain_pairs(config: CycleGANConfig, dataset, ctx: JobContext) -> dict[str, tuple]:
    """model key → (X images, Y images, info): one pair, or one per class in chain mode; Y filtered by
    the Path-Rank-Filter when a classifier is given."""
    from simstudio.train.gan_session import class_rows

    pairs = {}
    if config.chain_from:
        from simstudio.train.generate import class_generators

        makers = class_generators(config.chain_from, "best", pick_device(config.device))
        classes = list(config.chain_classes) or [c for c in makers if c in dataset.classes]
        rows = class_rows(dataset, classes, config.max_images, config.seed)
        for c in classes:
            if c not in makers:
                raise ValueError(f"GAN run {config.chain_from} makes {', '.join(makers)}, not {c!r}")
            ctx.log(f"chain: sampling {config.chain_samples} {c} images from {config.chain_from}")
            x = _resize(makers[c].sample(np.arange(config.chain_samples) + config.seed), config.image_size)
            pairs[c] = (x, np.asarray(dataset.images[rows[c]]),
                        {"x_class": c, "y_class": c, "x_source": config.chain_from, "class_name": c})
    else:
        if not config.x_class or not config.y_class or config.x_class == config.y_class:
            raise ValueError("choose two different classes for domains X and Y (e.g. nevus → melanoma)")
        rows = class_rows(dataset, [config.x_class, config.y_class], config.max_images, config.seed)
        key = f"{config.x_class}-to-{config.y_class}"
        pairs[key] = (np.asarray(dataset.images[rows[config.x_class]]),
                      np.asarray(dataset.images[rows[config.y_class]]),
                      {"x_class": config.x_class, "y_class": config.y_class, "x_source": "",
                       "class_name": key})
    if config.prf_classifier:
        from simstudio.train.path_rank_filter import path_rank_filter

        for key, (x, y, info) in list(pairs.items()):
            prf = path_rank_filter(y, config.prf_classifier, info["y_class"], config.prf_alpha)
            ctx.log(f"Path-Rank-Filter: kept the top {prf['kept']} of {prf['of']} {info['y_class']} images "
                    f"(α = {config.prf_alpha:g}, confidence ≥ {prf['threshold']:.3f})")
            if prf["kept"] < 2:
                raise ValueError(f"the Path-Rank-Filter kept {prf['kept']} {info['y_class']} image(s); "
                                 f"raise α or add images")
            pairs[key] = (x, y[prf["indices"]],
                          {**info, "prf_alpha": config.prf_alpha, "prf_kept": prf["kept"],
                           "prf_of": prf["of"], "prf_threshold": prf["threshold"]})
    return pairs


def _resize(images: np.ndarray, side: int) -> np.ndarray:
    if images.shape[1] == side:
        return images
    from simstudio.eval.fidelity import resize_images

    return (resize_images(images, side) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _cycled_perm(n_items: int, length: int, gen: torch.Generator) -> torch.Tensor:
    """`length` indices into n_items: whole shuffled passes, so the smaller domain repeats evenly."""
    reps = -(-length // n_items)
    return torch.cat([torch.randperm(n_items, generator=gen) for _ in range(reps)])[:length]


def _to_float(x: torch.Tensor, fmt) -> torch.Tensor:
    return x.float().div_(127.5).sub_(1.0).contiguous(memory_format=fmt)


def _lsgan(pred: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(pred, torch.full_like(pred, target))


@torch.no_grad()
def _translate(net: torch.nn.Module, images: np.ndarray, device, fmt, batch: int = 64) -> np.ndarray:
    was = net.training
    net.eval()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).permute(0, 3, 1, 2).to(device)
        out.append(to_uint8(net(_to_float(x, fmt))))
    net.train(was)
    return np.concatenate(out)

