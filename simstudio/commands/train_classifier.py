"""`train-classifier`: train and test an image classifier; prints the final test metrics as JSON.

python -m simstudio train-classifier --real DATASET [--split FILE] [--synthetic DIR]
    --mode real|synthetic|mix|pretrain --model NAME [--test DIR] --out RUNS
python -m simstudio train-classifier --resume RUN      # continue a killed run after its last epoch
torchrun --nproc_per_node 2 -m simstudio train-classifier ...   # DistributedDataParallel
"""

from __future__ import annotations

import json
import sys

# Metrics printed on stdout (the full result, with curves and per-class tables, is in result.json).
SUMMARY_KEYS = (
    "accuracy",
    "balanced_accuracy",
    "roc_auc",
    "sensitivity",
    "specificity",
    "precision",
    "f1",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "specificity_macro",
    "brier",
    "rmse",
)


def add_parser(sub) -> None:
    # Choices come from modules that import no torch, so `--help` stays fast.
    from simstudio.nets.registry import MODEL_NAMES
    from simstudio.train.composition import MIX_STRATEGIES, MODES
    from simstudio.train.optimisation import OPTIMIZERS, SCHEDULES

    p = sub.add_parser(
        "train-classifier", help="train a classifier on real and/or synthetic images, test on real"
    )
    d = p.add_argument_group("data")
    d.add_argument("--real", help="real dataset: a dataset run id or an image folder (class subfolders)")
    d.add_argument(
        "--split",
        help="split CSV (file,class,part,fold); default: the dataset's saved split, "
        "else a new stratified holdout split saved with the run",
    )
    d.add_argument(
        "--split-fractions", help="fractions of a new split, e.g. 85/15 or 80/10/10 (default 85/15)"
    )
    d.add_argument("--synthetic", help="synthetic image folder (simulator or GAN export) or dataset run")
    d.add_argument(
        "--test", help="separate folder of real test images (class subfolders), used only for testing"
    )
    d.add_argument("--mode", choices=MODES, help="real | synthetic | mix | pretrain (default real)")
    d.add_argument("--mix", choices=MIX_STRATEGIES, help="mix mode: add N per class, or balance the classes")
    d.add_argument(
        "--synthetic-per-class", type=int, help="mix=add: synthetic images added per class (0 = all)"
    )
    d.add_argument(
        "--val-fraction", type=float, help="validation share of the real training part (default 0.1)"
    )
    d.add_argument("--image-size", type=int, help="side in px (default 64)")
    d.add_argument(
        "--augment",
        help="augmentation preset: none, flip_rotate (default), flip_rotate_shear, crop64_flip, full; "
        "acquisition (the simulator's camera, hair, ruler, scope layers on every image, one distribution for "
        "every class) alone or before another, e.g. acquisition+flip_rotate",
    )
    d.add_argument("--acquisition-strength", type=float,
                   help="acquisition presets: x derm-real's pooled artefact rates (0-4, default 1)")
    f = p.add_argument_group("fine-tuning that keeps pretraining (mode pretrain, or --pretrained)")
    f.add_argument("--finetune-augment", help="augmentation preset of the fine-tune stage (default: --augment)")
    f.add_argument("--finetune-synthetic-ratio", type=float,
                   help="mixed fine-tuning: share of synthetic images in every fine-tune batch, e.g. 0.5")
    f.add_argument("--l2sp-alpha", type=float,
                   help="L2-SP (Li et al. 2018, 0.1 there): weight of the backbone's distance to its pretrained "
                   "weights")
    f.add_argument("--l2sp-beta", type=float, help="L2-SP: the same for the head (0.01 there)")
    f.add_argument("--freeze-blocks", type=int, help="fine-tune with the first N blocks frozen")
    m = p.add_argument_group("model and optimisation")
    m.add_argument("--model", choices=MODEL_NAMES, help="default smallcnn")
    m.add_argument("--pretrained", action="store_true", default=None, help="start from ImageNet weights")
    m.add_argument("--optimizer", choices=OPTIMIZERS, help="default sgd (hESCnet)")
    m.add_argument("--lr", type=float, help="learning rate (default 0.005, hESCnet)")
    m.add_argument("--momentum", type=float)
    m.add_argument("--weight-decay", type=float)
    m.add_argument("--schedule", choices=SCHEDULES, help="default step: x0.1 at half the epochs (hESCnet)")
    m.add_argument("--step-epoch", type=int, help="step schedule: epoch of the x0.1 drop")
    m.add_argument("--epochs", type=int)
    m.add_argument("--pretrain-epochs", type=int, help="pretrain mode: epochs on synthetic images first")
    m.add_argument("--batch-size", type=int)
    m.add_argument("--class-balance", choices=("none", "weights", "sampler"))
    m.add_argument(
        "--lr-finder", action="store_true", default=None, help="run a learning-rate range test first"
    )
    m.add_argument(
        "--early-stopping",
        type=int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without improvement of --monitor",
    )
    m.add_argument("--monitor", choices=("val_loss", "val_accuracy", "val_balanced_accuracy", "val_auc"))
    m.add_argument("--seed", type=int)
    m.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the best available)")
    r = p.add_argument_group("run")
    r.add_argument("--config", help="JSON file with ClassifierConfig fields; flags given override it")
    r.add_argument("--out", help="run store folder (default $SIMSTUDIO_HOME or ./runs)")
    r.add_argument("--name", default="", help="a label for the run")
    r.add_argument(
        "--resume", metavar="RUN", help="continue this run (id or folder) after its last finished epoch"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from simstudio.jobs import JobContext, ProgressPrinter, execute_job, run_in_foreground
    from simstudio.runs import open_run
    from simstudio.train.classifier import RUN_KIND, check_config, train_classifier
    from simstudio.train.distributed import process_rank

    rank = process_rank()
    if args.resume:
        run_ = open_run(args.resume, root=args.out)
        if run_.kind != RUN_KIND:
            raise ValueError(f"run {run_.id} is a {run_.kind!r} run, not a classifier training run")
        config = _config_from_args(args, base=run_.config)
    else:
        run_ = None
        config = _config_from_args(args)
    check_config(config)
    if rank != 0:  # torchrun worker: computes, rank 0 writes the run
        train_classifier(config, JobContext.local())
        return 0
    if run_ is not None:
        ctx = JobContext(run_, on_event=None if args.quiet else ProgressPrinter())
        result = execute_job(run_, train_classifier, config, ctx)
    else:
        run_, result = run_in_foreground(
            RUN_KIND, train_classifier, config, echo=not args.quiet, name=args.name, root=args.out
        )
    if result is None:
        err = (run_.error or f"run {run_.status}").strip().splitlines()[0]
        print(f"error: {err} (run {run_.path})", file=sys.stderr)
        return 1
    test = result["test"]
    summary = {
        "run": run_.id,
        "run_dir": str(run_.path),
        "model": result["model"],
        "mode": result["mode"],
        "test_images": test["n"],
        "test_source": result["data"].get("test_source", ""),
        **{k: test[k] for k in SUMMARY_KEYS if k in test},
        "per_class": test["per_class"],
        "confusion_matrix": test["confusion_matrix"],
        "training_time_s": result["training_time_s"],
        "min_train_loss": result["min_train_loss"],
        "epochs_trained": result["epochs_trained"],
        "checkpoint": result["checkpoint"],
    }
    print(json.dumps(summary, indent=2))
    return 0


def _config_from_args(args, base: dict | None = None):
    from simstudio.config import config_from_dict, load_config
    from simstudio.train.classifier import ClassifierConfig

    if base is not None:
        config = config_from_dict(ClassifierConfig, base)
    elif args.config:
        config = load_config(ClassifierConfig, args.config)
    else:
        config = ClassifierConfig()
    flags = {
        k: getattr(args, k)
        for k in (
            "real",
            "split",
            "synthetic",
            "test",
            "mode",
            "mix",
            "synthetic_per_class",
            "val_fraction",
            "image_size",
            "augment",
            "model",
            "pretrained",
            "optimizer",
            "lr",
            "momentum",
            "weight_decay",
            "schedule",
            "step_epoch",
            "epochs",
            "pretrain_epochs",
            "batch_size",
            "class_balance",
            "lr_finder",
            "early_stopping",
            "monitor",
            "seed",
            "device",
            "acquisition_strength",
            "finetune_augment",
            "finetune_synthetic_ratio",
            "l2sp_alpha",
            "l2sp_beta",
            "freeze_blocks",
        )
    }
    if args.split_fractions:
        from simstudio.data.splits import parse_split_spec

        kind, fractions = parse_split_spec(args.split_fractions)
        if kind != "holdout":
            raise ValueError(
                "--split-fractions takes holdout fractions like 85/15; k-fold runs are experiments"
            )
        flags["split_fractions"] = list(fractions)
    changed = {k: v for k, v in flags.items() if v is not None}
    if base is not None and changed:
        # A resumed run must train what it started with; only the device may change.
        extra = sorted(set(changed) - {"device"} - {k for k, v in changed.items() if getattr(config, k) == v})
        if extra:
            flags_given = ", ".join("--" + k.replace("_", "-") for k in extra)
            raise ValueError(f"--resume continues the run's saved config; drop {flags_given}")
    for k, v in changed.items():
        setattr(config, k, v)
    return config
