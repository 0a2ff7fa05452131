"""`train-gan`: train a DCGAN (one per class), an ACGAN or a CycleGAN; or resume a stopped GAN run."""

from __future__ import annotations

# CLI flag → config field (only the flags given override the preset / paper defaults)
FLAGS = {
    "dataset": str, "preset": str, "epochs": int, "image_size": int, "batch_size": int, "lr": float,
    "beta1": float, "nz": int, "ngf": int, "ndf": int, "diffaugment": str, "eval_every": int,
    "eval_features": str, "eval_samples": int, "max_images": int, "seed": int, "device": str,
    "x_class": str, "y_class": str, "prf_classifier": str, "prf_alpha": float, "chain_from": str,
    "chain_samples": int, "epochs_decay": int, "n_blocks": int, "lambda_cycle": float,
    "lambda_identity": float, "aux_weight": float,
}


def add_parser(sub) -> None:
    from simstudio.commands.flag_names import add_renamed

    p = sub.add_parser(
        "train-gan", help="train a GAN (dcgan per class, acgan, cyclegan) or resume one",
        description="Train a GAN on a dataset run or image folder. Presets: cpu-32, cpu-64 (minutes on a "
                    "CPU), paper-64/paper-128 (DCGAN/ACGAN), paper-128/paper-256 (CycleGAN). Example: "
                    "python -m simstudio train-gan --model dcgan --real DATA --classes melanoma "
                    "--preset cpu-32")
    p.add_argument("--model", choices=["dcgan", "acgan", "cyclegan"], default="dcgan")
    p.add_argument("--resume", metavar="RUN", help="continue a stopped GAN run from its last checkpoints")
    p.add_argument("--real", dest="dataset", help="real dataset: dataset run id or image folder (root/<class>/*)")
    add_renamed(p, "--dataset", "--real", "dataset")
    p.add_argument("--classes", help="comma-separated classes (dcgan: one model each; cyclegan chain: the "
                                     "classes to refine; default all)")
    p.add_argument("--preset", help="cpu-32, cpu-64, paper-64, paper-128 (cyclegan: paper-128, paper-256)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--size", type=int, dest="image_size", help="image side in px")
    add_renamed(p, "--image-size", "--size", "image_size", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--beta1", type=float)
    p.add_argument("--nz", type=int, help="latent size (paper 100; 128 is the other common choice)")
    p.add_argument("--ngf", type=int)
    p.add_argument("--ndf", type=int)
    p.add_argument("--diffaugment", help="DiffAugment ops, e.g. color,translation,cutout")
    p.add_argument("--eval-every", type=int, help="KID/FID every K epochs (0 = never)")
    p.add_argument("--eval-features", help="pixels (default), inception, or a classifier run id")
    p.add_argument("--eval-samples", type=int)
    p.add_argument("--max-images", type=int, help="cap on training images per model")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--out", help="run store folder (default $SIMSTUDIO_HOME or ./runs)")
    g = p.add_argument_group("acgan")
    g.add_argument("--aux-weight", type=float)
    g = p.add_argument_group("cyclegan")
    g.add_argument("--x-class", help="domain X class, e.g. nevus")
    g.add_argument("--y-class", help="domain Y class, e.g. melanoma")
    g.add_argument("--prf-classifier", help="Path-Rank-Filter: classifier run id ranking the Y images")
    g.add_argument("--prf-alpha", type=float, help="keep the top alpha of Y (1/8 = 0.125, 0.25, 0.5, 1)")
    g.add_argument("--chain-from", help="refinement chain: GAN run whose samples of each class are X")
    g.add_argument("--chain-samples", type=int)
    g.add_argument("--epochs-decay", type=int)
    g.add_argument("--n-blocks", type=int)
    g.add_argument("--lambda-cycle", type=float)
    g.add_argument("--lambda-identity", type=float)
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from simstudio.jobs import JobContext, ProgressPrinter, execute_job, run_in_foreground
    from simstudio.train.gan import RUN_KIND, check_gan_config, gan_config, train_gan

    if args.resume:
        from simstudio.runs import open_run

        r = open_run(args.resume, root=args.out)
        if r.kind != RUN_KIND:
            raise ValueError(f"run {r.id} is a {r.kind!r} run, not a GAN run")
        result = execute_job(r, train_gan, r.config, JobContext(r, on_event=ProgressPrinter()))
        return _report(r, result, json)
    overrides = {k: getattr(args, k) for k in FLAGS if getattr(args, k, None) is not None and k != "preset"}
    if args.classes:
        key = "chain_classes" if args.model == "cyclegan" else "classes"
        overrides[key] = [c.strip() for c in args.classes.split(",") if c.strip()]
    if not overrides.get("dataset"):
        raise ValueError("give --real (a dataset run id or an image folder), or --resume RUN")
    try:
        config = gan_config(args.model, args.preset or "", **overrides)
    except TypeError as exc:  # a flag that this model does not take (e.g. --x-class for dcgan)
        raise ValueError(f"{args.model}: {exc}") from None
    check_gan_config(config)
    r, result = run_in_foreground(RUN_KIND, train_gan, config, name=args.model, root=args.out)
    return _report(r, result, json)


def _report(r, result, json) -> int:
    print(f"run {r.id}: {r.status}")
    if r.status == "failed":
        print((r.error or "").strip().splitlines()[0] if r.error else "", flush=True)
        return 1
    if result:
        for key, m in result.get("models", {}).items():
            best = m.get("best") or {}
            best_txt = f", best KID {best['kid']:.4f} at epoch {best['epoch']}" if best else ""
            print(f"  {key}: {m.get('epochs')} epochs{best_txt}" + (f"  DIVERGED: {m['diverged']}"
                                                                     if m.get("diverged") else ""))
            for w in m.get("warnings", []):
                print(f"  warning: {w}")
        print(json.dumps({"images_per_s": result.get("images_per_s"),
                          "checkpoints": str(r.path / "checkpoints")}))
    return 0 if r.status == "finished" else 1
