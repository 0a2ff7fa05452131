"""SimGAN refiner training (Shrivastava et al., CVPR 2017): learn the *look* of the real images and keep
the simulator's lesion, so the labels and geometry of a simulated export stay true.

Losses: refiner = local adversarial loss (BCE over D's patch map) + λ · mean |R(x) − x| (self-
regularisation) [+ μ · mask consistency: the refined lesion must still segment as the simulated mask];
discriminator = BCE on real patches vs refined ones, half of them from the history buffer.
Paper schedule: the refiner is pretrained with the self-regularisation loss alone and D on the initial
refined images, then each step makes Kg = 2 refiner updates per Kd = 1 D update. The paper used SGD
(lr 0.001); here Adam with the GAN loops' settings (lr 2e-4, β1 0.5), which trains in far fewer steps
on a CPU.

Label-blind by construction: the simulated images (every class pooled) and the real images (every class
pooled, only the chosen part of the split) are put in the order of their files' sha1, so neither which
images are drawn nor in what order depends on a class label; shuffling the real labels changes nothing.
The refiner can still learn correlations present in the real set between how a lesion looks and how it
was photographed; the raw export always stays available.

One run (kind "refiner") trains one refiner; `checkpoints/refiner/last.pt` after every epoch (full
state: networks, optimizers, history buffer, RNGs) so Resume continues exactly, `best.pt` at the lowest
KID of refined vs real images in the configured feature space (a real-trained classifier = the domain
space).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from simstudio.jobs import JobContext
from simstudio.nets.simgan import HistoryBuffer, LocalDiscriminator, Refiner
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
    config_dict,
    eval_feature_space,
    pick_device,
)

RUN_KIND = "refiner"
KEY = "refiner"
IMAGE_SIZES = (32, 64, 128, 256)
IOU_SAMPLES = 64   # simulated images whose refined lesion is segmented at each evaluation


@dataclass
class RefinerConfig(GANConfigBase):
    model: str = "simgan"       # fixed; lets a stored config name its trainer
    synthetic: str = ""         # simulated export folder (every class pooled)
    real_part: str = "train"    # part of the real set's saved split to learn from ("" = every image)
    nf: int = 64                # paper: 64 feature maps
    n_blocks: int = 4           # paper: 4 ResNet blocks
    down: int = 1               # 2 = blocks at half resolution (CPU presets)
    ndf: int = 64
    d_layers: int = 3
    lambda_reg: float = 0.5     # × mean per-pixel L1 in [-1, 1] units (the paper fixes no value for skin)
    lambda_mask: float = 0.0    # mask-consistency weight (0 = off; the IoU is reported either way)
    buffer_size: int = 512      # history buffer of refined images
    k_g: int = 2                # refiner updates per step (paper: 2)
    k_d: int = 1                # D updates per step (paper: 1)
    pretrain_refiner_steps: int = 1000  # paper: 1000 self-regularisation-only steps
    pretrain_d_steps: int = 200         # paper: 200
    steps_per_epoch: int = 100  # an epoch here is this many steps (checkpoint, samples, evaluation)
    max_synthetic: int = 0      # cap on simulated training images (0 = all)
    batch_size: int = 64
    epochs: int = 20


PRESETS: dict[str, dict] = {
    # <= 30 min on two busy CPU cores: blocks at half resolution, 16 maps, small D, short pretraining
    "cpu-64": dict(image_size=64, nf=16, n_blocks=4, down=2, ndf=16, d_layers=3, batch_size=32,
                   epochs=10, steps_per_epoch=60, pretrain_refiner_steps=100, pretrain_d_steps=50,
                   buffer_size=256, eval_every=2, eval_samples=256),
    "cpu-32": dict(image_size=32, nf=16, n_blocks=2, down=2, ndf=16, d_layers=2, batch_size=16,
                   epochs=4, steps_per_epoch=20, pretrain_refiner_steps=20, pretrain_d_steps=10,
                   buffer_size=64, eval_every=2, eval_samples=64),
    # the paper's refiner (64 maps, 4 blocks, full resolution) and schedule, for a GPU
    "paper-64": dict(image_size=64, nf=64, n_blocks=4, down=1, ndf=64, d_layers=3, batch_size=512,
                     epochs=100, steps_per_epoch=100, pretrain_refiner_steps=1000, pretrain_d_steps=200,
                     buffer_size=512 * 25, eval_every=10, eval_samples=1000),
    "paper-128": dict(image_size=128, nf=64, n_blocks=4, down=1, ndf=64, d_layers=4, batch_size=128,
                      epochs=100, steps_per_epoch=100, pretrain_refiner_steps=1000, pretrain_d_steps=200,
                      buffer_size=128 * 25, eval_every=10, eval_samples=1000),
}


def refiner_config(preset: str = "", **overrides) -> RefinerConfig:
    return apply_preset(RefinerConfig, PRESETS, preset, **overrides)


def coerce_refiner_config(config) -> RefinerConfig:
    from simstudio.config import coerce_config

    return coerce_config(RefinerConfig, config)


def check_refiner_config(config: RefinerConfig) -> None:
    if config.image_size not in IMAGE_SIZES:
        raise ValueError(f"refiner image size must be one of {IMAGE_SIZES}, got {config.image_size}")
    if config.down not in (1, 2):
        raise ValueError(f"down must be 1 or 2, got {config.down}")
    for name in ("nf", "ndf", "d_layers", "k_g", "k_d", "steps_per_epoch"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    for name in ("lambda_reg", "lambda_mask", "buffer_size", "pretrain_refiner_steps", "pretrain_d_steps",
                 "n_blocks", "max_synthetic"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(config, name)}")
    if config.real_part not in ("", "train", "val", "test"):
        raise ValueError(f"real_part must be '', train, val or test, got {config.real_part!r}")
    check_common(config)


# -- data ---------------------------------------------------------------------------------------------

def label_blind_order(hashes: list[str]) -> np.ndarray:
    """Rows in the order of their files' sha1: an order that no class label (nor folder name) can move."""
    return np.argsort(np.asarray(hashes, dtype=str), kind="stable")


def load_refiner_data(config: RefinerConfig, ctx: JobContext | None = None) -> dict:
    """Pooled simulated images and pooled real images (of `real_part`), each in label-blind order, with
    the files they came from, and the real images' sha1 (the fit-leakage guard needs them)."""
    from simstudio.data.dataset import load_dataset

    if not config.synthetic:
        raise ValueError("choose a simulated export folder (synthetic)")
    if not config.dataset:
        raise ValueError("choose a real dataset (a dataset run id or an image folder)")
    sim = load_dataset(config.synthetic, size=config.image_size, ctx=ctx)
    real = load_dataset(config.dataset, size=config.image_size, ctx=ctx)
    rows = real.part_rows(config.real_part, "real_part", config.dataset)
    rows = rows[label_blind_order([real.hashes[i] for i in rows])]
    sim_rows = label_blind_order(sim.hashes)
    if config.max_synthetic and len(sim_rows) > config.max_synthetic:
        keep = np.random.default_rng(config.seed).permutation(len(sim_rows))[:config.max_synthetic]
        sim_rows = sim_rows[np.sort(keep)]
    if len(rows) < 2 or len(sim_rows) < 2:
        raise ValueError(f"a refiner needs at least 2 simulated and 2 real images, got {len(sim_rows)} and "
                         f"{len(rows)}")
    return {"sim": np.asarray(sim.images[sim_rows]), "sim_files": [sim.files[i] for i in sim_rows],
            "sim_root": sim.root, "real": np.asarray(real.images[rows]),
            "real_files": [real.files[i] for i in rows], "real_sha1": [real.hashes[i] for i in rows]}


def sim_masks(root, files: list[str], size: int) -> np.ndarray | None:
    """The simulated lesion masks of `files`, or None when the folder is no simulator export."""
    from simstudio.sim.export_masks import export_masks, has_masks

    return export_masks(root, files, size) if has_masks(root) else None


# -- the job ------------------------------------------------------------------------------------------

def train_refiner(config: RefinerConfig | dict, ctx: JobContext | None = None) -> dict:
    """The refiner job: load the pooled images, then train (or resume) the refiner."""
    config = coerce_refiner_config(config)
    ctx = ctx or JobContext.local()
    check_refiner_config(config)
    data = load_refiner_data(config, ctx)
    ctx.log(f"refiner: {len(data['sim'])} simulated and {len(data['real'])} real images"
            f"{' (part ' + config.real_part + ')' if config.real_part else ''}, all classes pooled")
    masks = None
    if config.lambda_mask > 0:
        ctx.log("regenerating the simulated lesion masks for mask consistency")
        masks = sim_masks(data["sim_root"], data["sim_files"], config.image_size)
        if masks is None:
            raise ValueError(f"mask consistency needs a simulator export; {config.synthetic} has no manifest "
                             f"and marker to regenerate masks from (set lambda_mask to 0)")
    if ctx.run_dir is not None:
        from simstudio.runs import atomic_write_json

        atomic_write_json(ctx.run_dir / "refiner_data.json", {
            "synthetic": config.synthetic, "dataset": config.dataset, "real_part": config.real_part,
            "n_synthetic": len(data["sim"]), "n_real": len(data["real"]), "real_sha1": data["real_sha1"]})
    summary = fit_refiner(data["sim"], data["real"], config, ctx, masks=masks, sim_root=data["sim_root"],
                          sim_files=data["sim_files"], eval_space=eval_feature_space(config))
    return {"model": "simgan", "synthetic": config.synthetic, "dataset": config.dataset,
            "real_part": config.real_part, "n_synthetic": len(data["sim"]), "n_real": len(data["real"]),
            "models": {KEY: summary}, "images_per_s": summary.get("images_per_s")}


def fit_refiner(sim: np.ndarray, real: np.ndarray, config: RefinerConfig | dict,
                ctx: JobContext | None = None, *, masks: np.ndarray | None = None, sim_root=None,
                sim_files: list[str] | None = None, eval_space=None) -> dict:
    """Train the refiner on uint8 simulated and real images (N, S, S, 3); resumes from
    `checkpoints/refiner/last.pt` when the run has one."""
    config = coerce_refiner_config(config)
    ctx = ctx or JobContext.local()
    check_refiner_config(config)
    sim, real = _check(sim, config.image_size, "simulated"), _check(real, config.image_size, "real")
    device = pick_device(config.device)
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    spe = config.steps_per_epoch
    if eval_space is None:
        eval_space = eval_feature_space(config)
    total = config.epochs * spe
    done = 0
    last = ctx.run_dir / "checkpoints" / KEY / "last.pt" if ctx.run_dir is not None else None
    if last is not None and last.is_file():
        done = min(config.epochs, int(load_gan_checkpoint(last)["epoch"])) * spe
    clock = ProgressClock(ctx, total, done)

    torch.manual_seed(config.seed)
    R = Refiner(config.nf, config.n_blocks, config.down).to(device, memory_format=fmt)
    D = LocalDiscriminator(config.ndf, config.d_layers).to(device, memory_format=fmt)
    opt_r, opt_d = adam(R, config, device), adam(D, config, device)
    gen = torch.Generator().manual_seed(config.seed + 1)
    buffer = HistoryBuffer(config.buffer_size, gen)

    pick = np.random.default_rng(config.seed)
    k = min(8, len(sim))
    fixed = np.sort(pick.permutation(len(sim))[:k])
    eval_sim = np.sort(pick.permutation(len(sim))[:config.eval_samples])
    eval_real = real[np.sort(pick.permutation(len(real))[:config.eval_samples])]
    session = GANSession(ctx, KEY, config, total_epochs=config.epochs, steps_per_epoch=spe, clock=clock,
                         eval_real={KEY: eval_real}, eval_space=eval_space,
                         real_diversity=sample_diversity(real[pick.permutation(len(real))[:64]]))
    iou_rows = eval_sim[:IOU_SAMPLES]
    iou_masks = masks[iou_rows] if masks is not None else (
        sim_masks(sim_root, [sim_files[i] for i in iou_rows], config.image_size)
        if sim_root is not None and sim_files is not None else None)

    start, step = 0, 0
    ckpt = session.last_checkpoint()
    if ckpt is not None:
        restore_training_state(ckpt, {"R": R, "D": D}, {"R": opt_r, "D": opt_d}, gen, lr=config.lr)
        buffer.load_state(ckpt["buffer"], device)
        start, step = int(ckpt["epoch"]), int(ckpt["step"])
        ctx.log(f"{KEY}: resuming after epoch {start}")

    def state() -> dict:
        return {"model": "simgan", "class_name": KEY, "classes": [],
                "arch": refiner_arch(config), "nets": {"R": R.state_dict(), "D": D.state_dict()},
                "optimizers": {"R": opt_r.state_dict(), "D": opt_d.state_dict()},
                "buffer": buffer.state(), "rng": rng_states(gen), "config": config_dict(config)}

    def generate(n: int, seed: int) -> dict[str, np.ndarray]:
        return {KEY: refine_images(R, sim[eval_sim[:n]], device=device)}

    sim_all = torch.from_numpy(np.ascontiguousarray(sim)).permute(0, 3, 1, 2).to(device)
    real_all = torch.from_numpy(np.ascontiguousarray(real)).permute(0, 3, 1, 2).to(device)
    mask_all = torch.from_numpy(masks[:, None]).to(device) if masks is not None else None
    bs = config.batch_size

    def sim_batch():
        idx = torch.randint(0, len(sim), (bs,), generator=gen).to(device)
        x = _to_float(sim_all[idx], fmt)
        return x, (mask_all[idx].float() if mask_all is not None else None)

    def real_batch():
        idx = torch.randint(0, len(real), (bs,), generator=gen).to(device)
        return _to_float(real_all[idx], fmt)

    def r_step(adversarial: bool) -> dict[str, torch.Tensor]:
        x, m = sim_batch()
        opt_r.zero_grad(set_to_none=True)
        y = R(x)
        loss_reg = (y - x).abs().mean()
        loss = config.lambda_reg * loss_reg
        out = {"loss_reg": loss_reg.detach()}
        if adversarial:
            D.requires_grad_(False)
            logits = D(y)
            loss_adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            D.requires_grad_(True)
            loss = loss + loss_adv
            out["loss_g"] = loss_adv.detach()
        if m is not None and config.lambda_mask > 0:
            loss_mask = mask_consistency_loss(y, x, m)
            loss = loss + config.lambda_mask * loss_mask
            out["loss_mask"] = loss_mask.detach()
        loss.backward()
        opt_r.step()
        return out

    def d_step() -> dict[str, torch.Tensor]:
        x, _ = sim_batch()
        with torch.no_grad():
            y = R(x)
        fake = buffer.mix(y).contiguous(memory_format=fmt)
        r = real_batch()
        opt_d.zero_grad(set_to_none=True)
        d_real, d_fake = D(r), D(fake)
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        loss_d.backward()
        opt_d.step()
        return {"loss_d": loss_d.detach(), "d_x": torch.sigmoid(d_real).mean().detach(),
                "d_g_z": torch.sigmoid(d_fake).mean().detach()}

    try:
        for epoch in range(start, config.epochs):
            R.train()
            D.train()
            msg = f"{KEY}: epoch {epoch + 1}/{config.epochs}"
            if epoch == 0:
                _pretrain(ctx, config, r_step, d_step, msg)
            for _ in range(spe):
                ctx.check_cancel()
                out: dict[str, torch.Tensor] = {}
                for _ in range(config.k_g):
                    out.update(r_step(adversarial=True))
                for _ in range(config.k_d):
                    out.update(d_step())
                step += 1
                session.record(bs, msg, **out)
                if step % config.log_every == 0:
                    session.flush(epoch, step)
            session.flush(epoch, step)
            fixed_refined = refine_images(R, sim[fixed], device=device)
            grid = np.concatenate([fixed_refined, sim[fixed]])  # refined row first: the strip shows it
            session.end_epoch(epoch, step, grid, state, generate, grid_nrow=k)
            if iou_masks is not None and config.eval_every and ((epoch + 1) % config.eval_every == 0
                                                                 or epoch + 1 == config.epochs):
                _report_iou(ctx, session, epoch + 1, R, sim[iou_rows], iou_masks, device)
    except GANDiverged as exc:
        return {**session.summary(), "epochs": start, "diverged": str(exc), "images_per_s": clock.images_per_s()}
    clock.report("done")
    return {**session.summary(), "epochs": config.epochs, "images_per_s": clock.images_per_s(),
            "mask_iou": getattr(session, "mask_iou", None)}


def mask_consistency_loss(refined: torch.Tensor, raw: torch.Tensor, mask: torch.Tensor,
                          temperature: float = 0.02) -> torch.Tensor:
    """1 − soft Dice between the simulated mask and a soft segmentation of the refined image by the
    segmenter's own cue (pigment = darkest channel, eval/lesion_stats), thresholded halfway between the
    simulated image's mean pigment inside and outside its mask: the lesion must stay darker than that
    line and the skin lighter, whatever the refiner does to colour and texture."""
    p = (refined.amin(1, keepdim=True) + 1) / 2
    with torch.no_grad():
        p0 = (raw.amin(1, keepdim=True) + 1) / 2
        area = mask.sum((2, 3), keepdim=True)
        inside = (p0 * mask).sum((2, 3), keepdim=True) / area.clamp(min=1)
        outside = (p0 * (1 - mask)).sum((2, 3), keepdim=True) / (mask[0].numel() - area).clamp(min=1)
        tau = (inside + outside) / 2
    soft = torch.sigmoid((tau - p) / temperature)
    inter = (soft * mask).sum((1, 2, 3))
    dice = (2 * inter + 1) / (soft.sum((1, 2, 3)) + mask.sum((1, 2, 3)) + 1)
    return (1 - dice).mean()


def mask_iou(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """IoU per image between the segmenter's lesion (eval/lesion_stats) and the given masks."""
    from simstudio.eval.lesion_stats import segment_lesion

    out = np.zeros(len(images))
    for i, (img, m) in enumerate(zip(images, masks, strict=True)):
        seg = segment_lesion(img).mask
        union = np.logical_or(seg, m).sum()
        out[i] = np.logical_and(seg, m).sum() / union if union else 1.0
    return out


@torch.inference_mode()
@torch.inference_mode()
def refine_images(R: Refiner, images: np.ndarray, device=None, batch: int = 256) -> np.ndarray:
    """uint8 (N, S, S, 3) → refined uint8, in eval mode with no autograd, `batch` images at a time."""
    device = device or next(R.parameters()).device
    was = R.training
    R.eval()
    fmt = torch.channels_last
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.array(images[i:i + batch])).to(device).permute(0, 3, 1, 2)
        out.append(to_uint8(R(_to_float(x, fmt))))
    R.train(was)
    return np.concatenate(out) if out else np.zeros_like(images)


def refiner_arch(config: RefinerConfig) -> dict:
    return {"nf": config.nf, "n_blocks": config.n_blocks, "down": config.down, "ndf": config.ndf,
            "d_layers": config.d_layers, "image_size": config.image_size}


def load_refiner(ckpt: dict | str, device: str | torch.device = "cpu") -> tuple[Refiner, dict]:
    """The refiner of a checkpoint (eval mode) and the checkpoint's architecture."""
    ckpt = load_gan_checkpoint(ckpt) if not isinstance(ckpt, dict) else ckpt
    if ckpt.get("model") != "simgan":
        raise ValueError("this checkpoint is not a SimGAN refiner")
    arch = ckpt["arch"]
    R = Refiner(arch["nf"], arch["n_blocks"], arch["down"])
    R.load_state_dict(ckpt["nets"]["R"])
    return R.to(device).eval(), arch


def resume_refiner(run_id: str, runner=None):
    """Submit a stopped refiner run again: it continues after its last checkpointed epoch."""
    from simstudio.jobs import resume_stopped_run

    return resume_stopped_run(run_id, RUN_KIND, train_refiner, "a refiner run", runner)


# -- private helpers ----------------------------------------------------------------------------------

def _pretrain(ctx, config: RefinerConfig, r_step, d_step, msg: str) -> None:
    """SimGAN's start: the refiner with self-regularisation only (it stays near the identity it starts
    from), then D on its output, so neither begins against a random opponent."""
    for i in range(config.pretrain_refiner_steps):
        ctx.check_cancel()
        r_step(adversarial=False)
        if i % 20 == 0:
            ctx.progress(0, 1, f"{msg}: pretraining the refiner {i}/{config.pretrain_refiner_steps}")
    for i in range(config.pretrain_d_steps):
        ctx.check_cancel()
        d_step()
        if i % 20 == 0:
            ctx.progress(0, 1, f"{msg}: pretraining the discriminator {i}/{config.pretrain_d_steps}")


def _report_iou(ctx, session, epoch: int, R, images: np.ndarray, masks: np.ndarray, device) -> None:
    refined = refine_images(R, images, device=device)
    iou_refined = float(mask_iou(refined, masks).mean())
    iou_raw = float(mask_iou(images, masks).mean())
    session.mask_iou = {"refined": iou_refined, "raw": iou_raw, "epoch": epoch, "n": len(images)}
    ctx.report("mask_iou", model=KEY, epoch=epoch, refined=round(iou_refined, 4), raw=round(iou_raw, 4),
               n=len(images))


def _check(images: np.ndarray, size: int, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (size, size, 3) or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 {what} images (N, {size}, {size}, 3), got {images.dtype} "
                         f"{images.shape}")
    if len(images) < 2:
        raise ValueError(f"a refiner needs at least 2 {what} images, got {len(images)}")
    return images


def _to_float(x: torch.Tensor, fmt) -> torch.Tensor:
    return x.float().div_(127.5).sub_(1.0).contiguous(memory_format=fmt)
