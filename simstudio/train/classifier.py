"""Classifier training: real / synthetic / mixed / pretrain-then-fine-tune, always tested on held-out real
images, checkpointed every epoch so a killed run resumes where it stopped.

`train_classifier(config, ctx)` is the job the app, the CLI and the experiments run: it reads the data the
config names (a real dataset + split, a synthetic folder, an optional separate test folder) and calls
`fit_classifier(config, data, ctx)`, which takes arrays and is what a caller with its own folds uses.
The same function runs under `torchrun --nproc_per_node K` (DistributedDataParallel).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from simstudio.eval.metrics import classification_metrics, per_class_table, training_summary
from simstudio.jobs import JobContext
from simstudio.nets import MODEL_NAMES, build_model, check_input_size, normalisation_for
from simstudio.nets.model_input import normalise
from simstudio.train.checkpoints import (
    read_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from simstudio.train.composition import MIX_STRATEGIES, MODES, LabelledImages, Stage, compose_stages
from simstudio.train.distributed import Distributed, init_distributed
from simstudio.train.optimisation import OPTIMIZERS, SCHEDULES, find_lr, make_optimizer, make_scheduler

RUN_KIND = "train"
CLASS_BALANCE = ("none", "weights", "sampler")
MONITORS = {"val_loss": "min", "val_accuracy": "max", "val_balanced_accuracy": "max", "val_auc": "max"}
AUX_LOSS_WEIGHT = 0.4  # Inception-v3 auxiliary classifier weight (torchvision reference recipe)
CROP_PRESET_SIZE = 64  # the "crop64_flip" augmentation trains on 64x64 crops


@dataclass
class ClassifierConfig:
    # -- data ----------------------------------------------------------------------------------
    real: str = ""  # dataset run id or image folder (root/<class>/*)
    split: str = ""  # split CSV; "" = the dataset's saved split, else a new holdout split
    split_fractions: list[float] = field(default_factory=lambda: [0.85, 0.15])  # SimDeepL: 85/15 train/test
    split_seed: int = 0
    synthetic: str = ""  # synthetic image folder or dataset run (simulator / GAN export)
    test: str = ""  # separate folder of real test images (replaces the split's test part)
    mode: str = "real"  # real | synthetic | mix | pretrain
    mix: str = "add"  # mix mode: add N synthetic per class, or balance the classes
    synthetic_per_class: int = 0  # mix=add: N per class (0 = all); synthetic mode: cap per class (0 = all)
    val_fraction: float = 0.1  # of the real training part, when the split has no val part (0 = none)
    image_size: int = 64
    augment: str = "flip_rotate"
    acquisition_strength: float = 1.0  # "acquisition" presets: x the pooled artefact rates (0-4)
    # -- fine-tuning (pretrain mode, or a model starting from ImageNet weights) -------------------
    finetune_augment: str = ""  # augmentation of the fine-tune stage; "" = `augment`
    finetune_synthetic_ratio: float = 0.0  # pretrain mode: synthetic share of every fine-tune batch
    l2sp_alpha: float = 0.0  # L2-SP (Li et al. 2018; 0.1 there): pull the backbone to its pretrained weights
    l2sp_beta: float = 0.0  # L2-SP head weight (0.01 there)
    freeze_blocks: int = 0  # fine-tune with the first N blocks frozen
    # -- model ---------------------------------------------------------------------------------
    model: str = "smallcnn"
    pretrained: bool = False  # torchvision ImageNet weights (resnet18/50, inception_v3)
    # -- optimisation (hESCnet: SGD, lr 0.005, weight decay 1e-4, lr x0.1 at half the epochs) -----
    optimizer: str = "sgd"
    lr: float = 0.005
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "step"  # constant | step | cosine | onecycle
    step_epoch: int = 0  # step schedule: epoch of the x0.1 drop (0 = half the epochs)
    epochs: int = 10  # epochs of training (of fine-tuning in pretrain mode)
    pretrain_epochs: int = 5  # pretrain mode: epochs on the synthetic images first
    batch_size: int = 32
    class_balance: str = "none"  # none | weights (loss weights 1/frequency) | sampler (balanced batches)
    lr_finder: bool = False  # run a learning-rate range test at the start of each stage
    early_stopping: int = 0  # patience in epochs on `monitor` (0 = off)
    monitor: str = "val_loss"
    select_best: bool = True  # test the epoch best on `monitor` (when there is a validation set)
    seed: int = 0
    device: str = ""  # "" = cuda, then mps, then cpu
    amp: bool = True  # mixed precision, CUDA only
    channels_last: bool = True  # CUDA only


@dataclass
class TrainingData:
    """What `fit_classifier` trains and tests on; labels index `classes`."""

    classes: list[str]
    test: LabelledImages
    real_train: LabelledImages | None = None
    val: LabelledImages | None = None
    synthetic: LabelledImages | None = None
    info: dict = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, classes, test, train=None, val=None, synthetic=None) -> TrainingData:
        """From (images uint8 NHWC, labels) pairs."""

        def wrap(pair, source="real"):
            return None if pair is None else LabelledImages(np.asarray(pair[0]), np.asarray(pair[1]), source)

        return cls(list(classes), wrap(test), wrap(train), wrap(val), wrap(synthetic, "synthetic"))


class TrainingDiverged(RuntimeError):
    """The training loss became NaN/inf; the last good checkpoint is kept."""


def train_classifier(config: ClassifierConfig | dict, ctx: JobContext | None = None) -> dict:
    """The training job: load the data `config` names, compose the training set, train, test on real."""
    config = coerce_config(config)
    ctx = ctx or JobContext.local()
    check_config(config)
    dist = init_distributed(_pick_device(config))
    run_dir = dist.broadcast(str(ctx.run_dir) if ctx.run_dir else None)
    from simstudio.train.classifier_data import load_training_data

    # Rank 0 builds the decoded-image caches first so the other ranks only map them.
    data = (
        load_training_data(config, Path(run_dir) if run_dir and dist.is_main else None, ctx)
        if dist.is_main
        else None
    )
    dist.barrier()
    if not dist.is_main:
        data = load_training_data(config, Path(run_dir) if run_dir else None, JobContext.local(), write=False)
    return fit_classifier(
        config, data, ctx, checkpoint_dir=Path(run_dir) / "checkpoints" if run_dir else None, dist=dist
    )


def fit_classifier(
    config: ClassifierConfig | dict,
    data: TrainingData,
    ctx: JobContext | None = None,
    checkpoint_dir: str | Path | None = None,
    dist: Distributed | None = None,
) -> dict:
    """Train on `data` as `config.mode` says and test on `data.test`; returns the result dict.

    Checkpoints go to `checkpoint_dir` (default: the run's `checkpoints/`); when `last.pt` is already
    there, training resumes after its last finished epoch.
    """
    config = coerce_config(config)
    ctx = ctx or JobContext.local()
    dist = dist or Distributed()
    check_config(config)
    if checkpoint_dir is None and ctx.run_dir is not None:
        checkpoint_dir = ctx.run_dir / "checkpoints"
    return _Trainer(config, data, ctx, Path(checkpoint_dir) if checkpoint_dir else None, dist).run()


def coerce_config(config) -> ClassifierConfig:
    if isinstance(config, ClassifierConfig):
        return config
    if isinstance(config, dict):
        from simstudio.config import config_from_dict

        return config_from_dict(ClassifierConfig, config)
    raise TypeError(f"expected ClassifierConfig or dict, got {type(config).__name__}")


def check_config(config: ClassifierConfig) -> None:
    """Every choice valid and the model able to take the image size: a clear ValueError before any work."""
    from simstudio.data.augment import PRESETS

    for name, value, allowed in (
        ("mode", config.mode, MODES),
        ("mix", config.mix, MIX_STRATEGIES),
        ("model", config.model, MODEL_NAMES),
        ("optimizer", config.optimizer, OPTIMIZERS),
        ("schedule", config.schedule, SCHEDULES),
        ("augment", config.augment, PRESETS),
        ("class_balance", config.class_balance, CLASS_BALANCE),
        ("monitor", config.monitor, tuple(MONITORS)),
    ):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
    if config.epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {config.epochs}")
    if config.mode == "pretrain" and config.pretrain_epochs < 1:
        raise ValueError("mode 'pretrain' needs pretrain_epochs >= 1")
    if config.batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (batch norm needs two images), got {config.batch_size}")
    if not config.lr > 0:
        raise ValueError(f"lr must be > 0, got {config.lr}")
    if not 0 <= config.val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {config.val_fraction}")
    if _crops(config) and config.image_size < CROP_PRESET_SIZE:
        raise ValueError(
            f"augment 'crop64_flip' crops 64x64 patches; image_size must be >= 64, got {config.image_size}"
        )
    _check_finetune(config)
    check_input_size(config.model, model_input_size(config))


def _check_finetune(config: ClassifierConfig) -> None:
    from simstudio.data.augment import PRESETS, split_preset

    if not 0 <= config.acquisition_strength <= 4:
        raise ValueError(f"acquisition_strength must be in [0, 4], got {config.acquisition_strength}")
    starts = config.mode == "pretrain" or config.pretrained
    for name in ("l2sp_alpha", "l2sp_beta", "freeze_blocks"):
        value = getattr(config, name)
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        if value and not starts:
            raise ValueError(f"{name} keeps pretrained weights: it needs mode 'pretrain' or pretrained "
                             f"ImageNet weights (mode is {config.mode!r})")
    if config.finetune_augment:
        if config.finetune_augment not in PRESETS:
            raise ValueError(f"unknown finetune_augment {config.finetune_augment!r}; choose one of "
                             f"{', '.join(PRESETS)}")
        if config.mode != "pretrain":
            raise ValueError("finetune_augment sets the fine-tune stage of mode 'pretrain'")
        if (split_preset(config.finetune_augment)[1] == "crop64_flip") != _crops(config):
            raise ValueError("finetune_augment and augment must both crop (crop64_flip) or both not: the model "
                             "sees one input size")
    r = config.finetune_synthetic_ratio
    if r:
        if config.mode != "pretrain":
            raise ValueError("finetune_synthetic_ratio mixes synthetic images into the fine-tune stage of mode "
                             "'pretrain'")
        from simstudio.train.finetune import synthetic_per_batch

        synthetic_per_batch(config.batch_size, r)


def model_input_size(config: ClassifierConfig) -> int:
    return CROP_PRESET_SIZE if _crops(config) else config.image_size


def _crops(config: ClassifierConfig) -> bool:
    from simstudio.data.augment import split_preset

    return split_preset(config.augment)[1] == "crop64_flip"


def weights_digest(state_dict: dict) -> str:
    """sha1 over a model's parameters and buffers: equal digests mean equal weights."""
    h = hashlib.sha1()
    for k in sorted(state_dict):
        h.update(k.encode())
        h.update(state_dict[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# -- the training loop --------------------------------------------------------------------------------


@dataclass
class _State:
    """Everything besides tensors that a resumed run needs to continue exactly where it stopped."""

    stage: int = 0
    epoch: int = 0  # finished epochs in the current stage
    lr: float = 0.0  # base learning rate of the current stage (the LR finder may set it)
    history: list = field(default_factory=list)
    best_score: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped_early: bool = False
    lr_found: list = field(default_factory=list)


class _Trainer:
    def __init__(
        self,
        config: ClassifierConfig,
        data: TrainingData,
        ctx: JobContext,
        ckpt_dir: Path | None,
        dist: Distributed,
    ):
        self.config, self.data, self.ctx, self.dist = config, data, ctx, dist
        self.ckpt_dir = ckpt_dir if dist.is_main else None
        self.resume_dir = ckpt_dir
        self.classes = list(data.classes)
        self.input_size = model_input_size(config)
        device = _pick_device(config)
        if device.startswith("cuda") and dist.enabled:
            device = f"cuda:{dist.local_rank}"
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.norm = normalisation_for(config.model)
        self.meta = {
            "model": config.model,
            "classes": self.classes,
            "image_size": self.input_size,
            "data_size": config.image_size,
            "normalisation": self.norm,
            "eval_crop": self.input_size if self.input_size != config.image_size else None,
            "config": dataclasses.asdict(config),
        }
        self.best_in_memory: dict | None = None
        # Set per stage by _run_stage: mixed fine-tuning's synthetic tensors, frozen blocks, L2-SP origin.
        self._model, self._extra, self._frozen, self._l2sp_ref, self._seen_extra = None, None, [], None, 0

    # -- top level --------------------------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.config
        if self.data.val is None and cfg.val_fraction > 0 and self.data.real_train is not None:
            self.data.real_train, self.data.val = _carve_validation(
                self.data.real_train, cfg.val_fraction, cfg.seed, len(self.classes)
            )
        stages = compose_stages(
            cfg.mode,
            self.data.real_train,
            self.data.synthetic,
            self.classes,
            cfg.epochs,
            cfg.pretrain_epochs,
            cfg.mix,
            cfg.synthetic_per_class,
            cfg.seed,
            cfg.finetune_synthetic_ratio,
        )
        self._check_data(stages)
        composition = {s.name: s.data.counts(self.classes) for s in stages}
        self.ctx.report(
            "composition",
            mode=cfg.mode,
            stages=composition,
            val=None if self.data.val is None else _counts(self.data.val, self.classes),
            test=_counts(self.data.test, self.classes),
        )

        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, len(self.classes), pretrained=cfg.pretrained).to(self.device)
        if self.cuda and cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        state, ckpt = self._resume_or_start(model)

        total_steps = sum(s.epochs * self._stage_steps(s) for s in stages)
        self.step_offset = sum(h.get("steps", 0) for h in state.history)
        self.total_steps = total_steps
        started = time.time()
        for si in range(state.stage, len(stages)):
            self._run_stage(model, stages, si, state, ckpt if si == state.stage else None)
            ckpt = None
        train_time = sum(h["seconds"] for h in state.history)
        if not self.dist.is_main:  # rank 0 tests and writes the result
            return {"rank": self.dist.rank, "epochs_trained": len(state.history)}

        tested = "last"
        if cfg.select_best and self.data.val is not None and state.best_score is not None:
            best = self._best_weights()
            if best is not None:
                model.load_state_dict(best)
                tested = f"best (epoch {state.best_epoch})"
        proba = self._predict(model, self.data.test)
        metrics = classification_metrics(self.data.test.labels, proba, self.classes)
        self.ctx.progress(total_steps, total_steps, message="tested on held-out real images")
        ckpt_file = None
        if self.ckpt_dir is not None:
            ckpt_file = "checkpoints/best.pt" if tested != "last" else "checkpoints/last.pt"
        return {
            "model": cfg.model,
            "mode": cfg.mode,
            "classes": self.classes,
            "image_size": self.input_size,
            "composition": composition,
            "test": metrics,
            "per_class_table": per_class_table(metrics),
            "tested_weights": tested,
            "checkpoint": ckpt_file,
            "history": state.history,
            "stopped_early": state.stopped_early,
            "lr_found": state.lr_found,
            "data": self.data.info,
            "wall_time_s": round(time.time() - started, 3),
            **training_summary(state.history, train_time),
        }

    # -- stages and epochs ------------------------------------------------------------------------
    def _run_stage(self, model, stages: list[Stage], si: int, state: _State, ckpt: dict | None) -> None:
        cfg, stage = self.config, stages[si]
        final = si == len(stages) - 1
        images, labels = _as_tensors(stage.data, self.device if self.cuda else None)
        steps = self._stage_steps(stage)
        self._model = model
        self._extra = _as_tensors(stage.extra, self.device if self.cuda else None) if stage.extra_ratio else None
        # The stage that starts from pretrained weights (fine-tuning): what keeps them, if asked.
        starts = final and (cfg.mode == "pretrain" or cfg.pretrained)
        from simstudio.train.finetune import freeze_first_blocks

        self._frozen = freeze_first_blocks(model, cfg.freeze_blocks) if starts else []
        self._l2sp_ref = (self._l2sp_reference(model, state, ckpt)
                          if starts and (cfg.l2sp_alpha or cfg.l2sp_beta) else None)
        class_weights = _class_weights(labels, len(self.classes)) if cfg.class_balance == "weights" else None
        net = model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[self.dist.local_rank] if self.cuda else None)

        if state.epoch == 0 and (ckpt is None or ckpt.get("optimizer") is None):
            state.lr = cfg.lr
            if si > 0:
                self._report_stage_start(model, stage, si)
            if cfg.lr_finder:
                state.lr = self._find_lr(model, images, labels, class_weights, si)
                state.lr_found.append({"stage": stage.name, "lr": state.lr})
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = make_optimizer(cfg.optimizer, trainable, state.lr, cfg.momentum, cfg.weight_decay)
        scheduler = make_scheduler(cfg.schedule, optimizer, stage.epochs, steps, cfg.step_epoch)
        scaler = torch.amp.GradScaler("cuda") if self.cuda and cfg.amp else None
        if ckpt is not None and ckpt.get("optimizer") is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])

        while state.epoch < stage.epochs and not state.stopped_early:
            t0 = time.time()
            epoch = state.epoch
            train_loss, train_acc, n_steps, seen = self._train_epoch(
                net, optimizer, scheduler, scaler, images, labels, class_weights, si, epoch, stage, state
            )
            if not _all_finite(model):
                # The loss was finite but the last update overflowed: never checkpoint such weights.
                self._diverged(state, stage, n_steps)
            row = {
                "epoch": len(state.history) + 1,
                "stage": stage.name,
                "stage_epoch": epoch + 1,
                "train_loss": train_loss,
                "train_accuracy": train_acc,
                "lr": optimizer.param_groups[0]["lr"],
                "steps": n_steps,
                "seen": seen,
            }
            if self._extra is not None:
                row["seen_synthetic"] = self._seen_extra
            if self.data.val is not None and self.dist.is_main:
                row.update(self._validate(model))
            row["seconds"] = round(time.time() - t0, 3)
            state.history.append(row)
            state.epoch += 1
            stop = False
            if self.dist.is_main:  # validation runs on rank 0 only; its decision is broadcast
                improved = self._track_best(model, state, row, final)
                if cfg.early_stopping and self.data.val is not None and not improved:
                    state.bad_epochs += 1
                    stop = state.bad_epochs >= cfg.early_stopping
            state.stopped_early = bool(self.dist.broadcast(stop))
            # Checkpoint first: a metric event on the curves always has a checkpoint to resume from.
            self._save_last(model, optimizer, scheduler, scaler, state)
            self.ctx.metric(**row)
            if state.stopped_early:
                self.ctx.log(
                    f"early stopping after epoch {row['epoch']}: {cfg.monitor} did not improve for "
                    f"{cfg.early_stopping} epochs"
                )

        if not final:
            if self.ckpt_dir is not None:
                save_checkpoint(
                    self.ckpt_dir / f"{stage.name}.pt", {"model": model.state_dict(), "meta": self.meta}
                )
            # The next stage starts from these weights with a fresh optimizer, schedule and patience.
            state.stage, state.epoch = si + 1, 0
            state.best_score, state.best_epoch, state.bad_epochs, state.stopped_early = None, 0, 0, False
            self._save_last(model, None, None, None, state)

    def _train_epoch(
        self, net, optimizer, scheduler, scaler, images, labels, class_weights, si, epoch, stage, state
    ):
        cfg = self.config
        # Seeds from (seed, stage, epoch): a resumed run draws exactly what an uninterrupted one would.
        epoch_seed = cfg.seed * 1_000_003 + si * 10_007 + epoch
        torch.manual_seed(epoch_seed * 31 + self.dist.rank)  # dropout
        order_gen = torch.Generator().manual_seed(epoch_seed)
        aug_gen = torch.Generator().manual_seed(epoch_seed * 7 + 1 + self.dist.rank)
        order = self._epoch_order(labels, order_gen)
        seen = torch.bincount(labels.cpu()[order], minlength=len(self.classes)).double()
        net.train()
        for m in self._frozen:  # frozen blocks keep their pretrained batch-norm statistics
            m.eval()
        from simstudio.data.augment import augment_batch
        from simstudio.train.finetune import l2sp_penalty, mixed_batches

        preset = cfg.finetune_augment if stage.name == "finetune" and cfg.finetune_augment else cfg.augment
        total, correct, loss_sum, n_steps = 0, 0, 0.0, 0
        bs = cfg.batch_size
        if self._extra is not None:
            batches = mixed_batches(order, len(self._extra[1]), bs, stage.extra_ratio, order_gen)
        else:
            batches = [(order[start : start + bs], None) for start in range(0, len(order), bs)]
        self._seen_extra = 0
        for idx, extra_idx in batches:
            if len(idx) + (0 if extra_idx is None else len(extra_idx)) < 2:  # batch norm needs two images
                break
            self.ctx.check_cancel()
            x, y = self._batch(images, labels, idx)
            if extra_idx is not None and len(extra_idx):
                xe, ye = self._batch(*self._extra, extra_idx)
                x, y = torch.cat([x, xe]), torch.cat([y, ye])
                self._seen_extra += len(extra_idx)
            x = augment_batch(x, preset, aug_gen, cfg.acquisition_strength)
            x = normalise(x, {**self.norm, "scale": 1.0}, channels_last=self.cuda and cfg.channels_last)
            with torch.autocast("cuda", dtype=torch.float16, enabled=scaler is not None):
                out = net(x)
                loss = _loss(out, y, class_weights)
            if self._l2sp_ref is not None:
                loss = loss + l2sp_penalty(self._model, self._l2sp_ref, cfg.l2sp_alpha, cfg.l2sp_beta)
            reduced = self.dist.all_reduce_sum(loss.detach().float().clone()) / self.dist.world
            if not torch.isfinite(reduced):
                self._diverged(state, stage, n_steps + 1)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            scheduler.step()
            logits = out[0] if isinstance(out, tuple) else out
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
            loss_sum += float(reduced) * len(y)
            n_steps += 1
            done = self.step_offset + n_steps
            self.ctx.progress(
                done,
                self.total_steps,
                message=f"{stage.name} epoch {epoch + 1}/{stage.epochs} loss {loss_sum / total:.4f}",
            )
        self.step_offset += n_steps
        if self.dist.enabled:
            t = self.dist.all_reduce_sum(torch.tensor([correct, total], dtype=torch.float64))
            correct, total = int(t[0]), int(t[1])
            seen = self.dist.all_reduce_sum(seen)
            loss_sum *= self.dist.world  # loss was already averaged over ranks per step
        # Images drawn per class this epoch (shows what a balanced sampler did).
        seen_per_class = {c: int(n) for c, n in zip(self.classes, seen.tolist(), strict=True)}
        return loss_sum / max(total, 1), correct / max(total, 1), n_steps, seen_per_class

    def _epoch_order(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = len(labels)
        if self.config.class_balance == "sampler":
            w = _class_weights(labels, len(self.classes))[labels.cpu()]
            order = torch.multinomial(w.double(), n, replacement=True, generator=gen)
        else:
            order = torch.randperm(n, generator=gen)
        if self.dist.enabled:  # equal shards: pad by wrapping, then every k-th index
            per = math.ceil(n / self.dist.world)
            order = torch.cat([order, order[: per * self.dist.world - n]])[self.dist.rank :: self.dist.world]
        return order

    def _stage_steps(self, stage: Stage) -> int:
        if not stage.extra_ratio:
            return self._steps_per_epoch(len(stage.data))
        from simstudio.train.finetune import mixed_batches

        per_rank = math.ceil(len(stage.data) / self.dist.world)
        return len(mixed_batches(torch.arange(per_rank), max(1, len(stage.extra)), self.config.batch_size,
                                 stage.extra_ratio, torch.Generator().manual_seed(0)))

    def _l2sp_reference(self, model, state: _State, ckpt: dict | None) -> dict:
        """The weights the fine-tune stage started from: taken now, or read back when resuming it."""
        from simstudio.train.finetune import reference_weights

        path = self.resume_dir / "l2sp_reference.pt" if self.resume_dir is not None else None
        if ckpt is not None and ckpt.get("optimizer") is not None and path is not None and path.is_file():
            return {k: v.to(self.device) for k, v in read_checkpoint(path)["model"].items()}
        ref = reference_weights(model)
        if self.ckpt_dir is not None:
            save_checkpoint(path, {"model": ref, "meta": self.meta})
        return ref

    def _steps_per_epoch(self, n: int) -> int:
        per_rank = math.ceil(n / self.dist.world)
        full, rest = divmod(per_rank, self.config.batch_size)
        return full + (1 if rest >= 2 else 0)

    def _batch(self, images, labels, idx):
        idx = idx.to(images.device)
        x = images[idx].to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        return x, labels[idx].to(self.device)

    # -- evaluation -------------------------------------------------------------------------------
    @torch.no_grad()
    def _predict(self, model, data: LabelledImages) -> np.ndarray:
        model.eval()
        out = []
        crop = self.meta["eval_crop"]
        bs = max(64, 2 * self.config.batch_size)
        for i in range(0, len(data), bs):
            x = torch.from_numpy(np.ascontiguousarray(data.images[i : i + bs])).to(self.device)
            x = x.permute(0, 3, 1, 2).float().div_(255.0)
            if crop:
                off = (x.shape[-1] - crop) // 2
                x = x[..., off : off + crop, off : off + crop]
            x = normalise(
                x, {**self.norm, "scale": 1.0}, channels_last=self.cuda and self.config.channels_last
            )
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.cuda and self.config.amp):
                logits = model(x)
            out.append(torch.softmax(logits.float(), 1).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def _validate(self, model) -> dict:
        proba = self._predict(model, self.data.val)
        y = self.data.val.labels
        m = classification_metrics(y, proba, self.classes)
        val_loss = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, 1)).mean())
        return {
            "val_loss": val_loss,
            "val_accuracy": m["accuracy"],
            "val_balanced_accuracy": m["balanced_accuracy"],
            "val_auc": m["roc_auc"],
        }

    def _track_best(self, model, state: _State, row: dict, final: bool) -> bool:
        score = row.get(self.config.monitor)
        if score is None or self.data.val is None:
            return False
        better = state.best_score is None or (
            score < state.best_score if MONITORS[self.config.monitor] == "min" else score > state.best_score
        )
        if better:
            state.best_score, state.best_epoch, state.bad_epochs = float(score), row["epoch"], 0
            if final and self.config.select_best and self.dist.is_main:
                if self.ckpt_dir is not None:
                    save_checkpoint(
                        self.ckpt_dir / "best.pt",
                        {"model": model.state_dict(), "meta": {**self.meta, "epoch": row["epoch"]}},
                    )
                else:
                    self.best_in_memory = copy.deepcopy(model.state_dict())
        return better

    def _best_weights(self) -> dict | None:
        if self.ckpt_dir is not None and (self.ckpt_dir / "best.pt").is_file():
            return read_checkpoint(self.ckpt_dir / "best.pt")["model"]
        return self.best_in_memory

    # -- checkpoints ------------------------------------------------------------------------------
    def _resume_or_start(self, model) -> tuple[_State, dict | None]:
        last = self.resume_dir / "last.pt" if self.resume_dir is not None else None
        # Rank 0 decides (before it writes the first checkpoint), so every rank resumes or starts alike.
        if self.dist.broadcast(last is not None and last.is_file()):
            ckpt = read_checkpoint(last)
            meta = ckpt["meta"]
            if meta["model"] != self.config.model or meta["classes"] != self.classes:
                raise ValueError(
                    f"{last} is a {meta['model']} over classes {meta['classes']}; this run trains "
                    f"a {self.config.model} over {self.classes}: start a new run instead"
                )
            model.load_state_dict(ckpt["model"])
            state = _State(**ckpt["state"])
            set_rng_state(ckpt["rng"])
            self.ctx.log(
                f"resuming after epoch {len(state.history)} (stage {state.stage + 1}, "
                f"epoch {state.epoch} of that stage) from {last}"
            )
            return state, ckpt
        state = _State(lr=self.config.lr)
        # A checkpoint before the first step: a run cancelled in epoch 1 still leaves a loadable model.
        self._save_last(model, None, None, None, state)
        return state, None

    def _save_last(self, model, optimizer, scheduler, scaler, state: _State) -> None:
        if self.ckpt_dir is None:
            return
        save_checkpoint(
            self.ckpt_dir / "last.pt",
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "state": dataclasses.asdict(state),
                "rng": rng_state(),
                "meta": {**self.meta, "epoch": len(state.history)},
            },
        )

    def _diverged(self, state: _State, stage: Stage, batch: int) -> None:
        epoch = len(state.history)
        kept = (
            f"the last good checkpoint (after epoch {epoch}) is kept in {self.ckpt_dir / 'last.pt'}"
            if self.ckpt_dir is not None
            else "no checkpoint was written (no run folder)"
        )
        msg = (
            f"training loss became NaN/inf in {stage.name} epoch {state.epoch + 1}, batch {batch}; "
            f"stopped. {kept}. Try a lower learning rate (now {state.lr:g}) or another optimizer."
        )
        self.ctx.log(msg, level="error")
        raise TrainingDiverged(msg)

    # -- stage start, LR finder -------------------------------------------------------------------
    def _report_stage_start(self, model, stage: Stage, si: int) -> None:
        fields = {"stage": stage.name, "index": si, "weights_sha1": weights_digest(model.state_dict())}
        if self.data.val is not None and self.dist.is_main:
            fields.update({f"start_{k}": v for k, v in self._validate(model).items()})
        self.ctx.report("stage", **fields)

    def _find_lr(self, model, images, labels, class_weights, si: int) -> float:
        cfg = self.config
        from simstudio.data.augment import augment_batch

        gen = torch.Generator().manual_seed(cfg.seed * 7919 + si)
        order = torch.randperm(len(labels), generator=gen)
        batches = []
        for k in range(min(100, max(10, len(order) // cfg.batch_size))):
            idx = order[(k * cfg.batch_size) % len(order) :][: cfg.batch_size]
            if len(idx) < 2:
                idx = order[: cfg.batch_size]
            x, y = self._batch(images, labels, idx)
            x = normalise(augment_batch(x, cfg.augment, gen), {**self.norm, "scale": 1.0})
            batches.append((x, y))

        def opt(params, lr):
            return make_optimizer(cfg.optimizer, params, lr, cfg.momentum, cfg.weight_decay)

        lr, lrs, losses = find_lr(model, opt, batches, lambda out, y: _loss(out, y, class_weights))
        lr = float(self.dist.broadcast(lr))
        self.ctx.report("lr_finder", stage=si, lr=lr, lrs=lrs, losses=losses)
        self.ctx.log(f"learning-rate finder picked lr {lr:.3g}")
        return lr

    def _check_data(self, stages: list[Stage]) -> None:
        names = self.classes
        for s in stages:
            present = sorted(set(s.data.labels.tolist()))
            if len(present) < 2:
                only = ", ".join(names[i] for i in present) or "none"
                raise ValueError(
                    f"the {s.name} set has images of one class only ({only}); a classifier needs "
                    f"at least two classes"
                )
        trained = set(stages[-1].data.labels.tolist())
        missing = sorted(set(self.data.test.labels.tolist()) - trained)
        if missing:
            raise ValueError(
                f"test class(es) {', '.join(names[i] for i in missing)} have no images in the "
                f"{stages[-1].name} set (mode {self.config.mode}); the classifier could never predict "
                f"them. Add images of those classes or drop them from the test set"
            )
        for what, d in [("test", self.data.test), ("validation", self.data.val)] + [
            (s.name, s.data) for s in stages
        ]:
            if d is not None and tuple(d.images.shape[1:]) != (
                self.config.image_size,
                self.config.image_size,
                3,
            ):
                raise ValueError(
                    f"{what} images are {tuple(d.images.shape[1:])}, expected "
                    f"({self.config.image_size}, {self.config.image_size}, 3) for image_size "
                    f"{self.config.image_size}"
                )


# -- private helpers ----------------------------------------------------------------------------------


def _pick_device(config: ClassifierConfig) -> str:
    from simstudio.device import default_device

    return config.device or default_device()


def _all_finite(model) -> bool:
    """Parameters and buffers (batch-norm statistics too) free of NaN/inf."""
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())


def _loss(out, y, class_weights):
    if isinstance(out, tuple):  # Inception-v3 training output: (logits, aux logits)
        return F.cross_entropy(out[0], y, weight=class_weights) + AUX_LOSS_WEIGHT * F.cross_entropy(
            out[1], y, weight=class_weights
        )
    return F.cross_entropy(out, y, weight=class_weights)


def _class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """n / (C * count_c): each class contributes equally to the loss (0 for absent classes)."""
    counts = torch.bincount(labels.cpu(), minlength=num_classes).double()
    w = torch.where(counts > 0, len(labels) / (num_classes * counts.clamp_min(1)), torch.zeros_like(counts))
    return w.float().to(labels.device)


def _as_tensors(data: LabelledImages, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The stage's images as one uint8 tensor (on the GPU when one is used), indexed per batch."""
    images = torch.from_numpy(np.ascontiguousarray(data.images))
    labels = torch.from_numpy(data.labels)
    if device is not None:
        images, labels = images.to(device), labels.to(device)
    return images, labels


def _carve_validation(train: LabelledImages, fraction: float, seed: int, num_classes: int):
    """Stratified validation images taken from the real training set (never from the test set)."""
    rng = np.random.default_rng(seed + 17)
    val_idx = []
    for c in range(num_classes):
        rows = np.flatnonzero(train.labels == c)
        k = int(round(len(rows) * fraction))
        if len(rows) >= 2 and k >= 1:
            val_idx.append(rng.choice(rows, size=min(k, len(rows) - 1), replace=False))
    if not val_idx:
        return train, None
    val_idx = np.sort(np.concatenate(val_idx))
    keep = np.setdiff1d(np.arange(len(train)), val_idx)
    return train.take(keep), train.take(val_idx)


def _counts(data: LabelledImages, classes: list[str]) -> dict[str, int]:
    per = np.bincount(data.labels, minlength=len(classes))
    return {c: int(per[i]) for i, c in enumerate(classes)}
