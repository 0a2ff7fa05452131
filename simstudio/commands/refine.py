"""`refine`: make a simulated export look like a real set without touching its labels or geometry: train a
SimGAN refiner (or resume one) and/or apply it, or use Fourier domain adaptation, writing a refined export
in the simulator's layout."""

from __future__ import annotations

from simstudio.commands.flag_names import add_renamed

# CLI flag -> refiner config field (only the flags given override the preset / paper defaults)
TRAIN_FLAGS = {"epochs": int, "batch_size": int, "lr": float, "nf": int, "n_blocks": int, "ndf": int,
               "lambda_reg": float, "lambda_mask": float, "buffer_size": int, "steps_per_epoch": int,
               "eval_features": str, "eval_every": int, "max_synthetic": int, "image_size": int}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "refine", help="sim-to-real refinement of a simulated export (SimGAN refiner or Fourier transfer)",
        description="Refine a simulated export toward a real set, label-blind (every class pooled), into a "
                    "new export that loads anywhere a synthetic folder does. --method fda needs no "
                    "training; --method simgan applies --refiner RUN, or trains one first (--preset cpu-64 "
                    "on a CPU in <= 30 min, paper-64 on a GPU). The raw export is never changed. The "
                    "refiner can still learn correlations in the real set between how a lesion looks and "
                    "how it was photographed.")
    p.add_argument("--synthetic", help="the simulated export folder (with manifest.csv)")
    p.add_argument("--real", help="real dataset run id or image folder (FDA amplitudes; refiner training; C2ST)")
    p.add_argument("--out", help="new folder for the refined export (omit with --train-only)")
    p.add_argument("--method", choices=["simgan", "fda"], default="simgan")
    p.add_argument("--beta", type=float, default=0.01, help="FDA window (paper 0.01-0.09; default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="FDA: the real image each simulated one gets; "
                                                        "refiner training seed")
    p.add_argument("--real-part", default="train",
                   help="part of the real set's saved split to learn from ('' = all; default train)")
    p.add_argument("--refiner", metavar="RUN", help="a trained refiner run id or checkpoint to apply")
    p.add_argument("--which", choices=["best", "last"], default="best", help="refiner checkpoint")
    p.add_argument("--resume", metavar="RUN", help="continue a stopped refiner run, then apply it when --out")
    p.add_argument("--train-only", action="store_true", help="train the refiner and stop (no export)")
    p.add_argument("--c2st", metavar="FEATURES", default="",
                   help="also C2ST real vs raw and real vs refined in this feature space (pixels, stats, or "
                        "a classifier run id)")
    p.add_argument("--c2st-part", default="test", help="real part the C2ST compares with (default test)")
    p.add_argument("--device", default="", help="cpu or cuda (default: the best available)")
    g = p.add_argument_group("refiner training (method simgan without --refiner)")
    g.add_argument("--preset", default="cpu-64", help="cpu-64 (default), cpu-32, paper-64, paper-128")
    for flag, typ in TRAIN_FLAGS.items():
        if flag != "image_size":
            g.add_argument("--" + flag.replace("_", "-"), type=typ, dest=flag)
    # One flag for an image side across the CLI (--size); the old spelling still parses
    g.add_argument("--size", type=int, dest="image_size", help="refiner image side in px (default: the preset's)")
    add_renamed(g, "--image-size", "--size", "image_size", type=int)
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from simstudio.jobs import JobContext, ProgressPrinter, execute_job, run_in_foreground
    from simstudio.runs import open_run

    refiner = args.refiner or ""
    if args.method == "simgan" and not refiner:
        from simstudio.train.refiner import RUN_KIND, check_refiner_config, refiner_config, train_refiner

        if args.resume:
            r = open_run(args.resume)
            if r.kind != RUN_KIND:
                raise ValueError(f"run {r.id} is a {r.kind!r} run, not a refiner run")
            result = execute_job(r, train_refiner, r.config, JobContext(r, on_event=ProgressPrinter()))
        else:
            if not args.synthetic or not args.real:
                raise ValueError("training a refiner needs --synthetic EXPORT and --real DATASET")
            overrides = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k, None) is not None}
            config = refiner_config(args.preset, synthetic=args.synthetic, dataset=args.real,
                                    real_part=args.real_part, seed=args.seed, device=args.device, **overrides)
            check_refiner_config(config)
            r, result = run_in_foreground(RUN_KIND, train_refiner, config, name=f"refiner {args.preset}")
        print(f"refiner run {r.id}: {r.status}")
        if r.status != "finished":
            print((r.error or "").strip().splitlines()[-1] if r.error else "", flush=True)
            return 1
        model = (result or {}).get("models", {}).get("refiner", {})
        print(json.dumps({"best": model.get("best"), "mask_iou": model.get("mask_iou"),
                          "warnings": model.get("warnings"), "images_per_s": model.get("images_per_s")}))
        if args.train_only or not args.out:
            return 0
        refiner = r.id
    if not args.out:
        raise ValueError("give --out DIR for the refined export (or --train-only)")
    from simstudio.experiments.refined_export import (
        RUN_KIND as REFINE_KIND,
    )
    from simstudio.experiments.refined_export import (
        RefineConfig,
        check_refine_config,
        refine_export,
    )

    config = RefineConfig(synthetic=args.synthetic or "", out=args.out, method=args.method, refiner=refiner,
                          which=args.which, real=args.real or "", real_part=args.real_part, beta=args.beta,
                          seed=args.seed, device=args.device or "cpu", c2st_features=args.c2st,
                          c2st_part=args.c2st_part)
    check_refine_config(config)
    r, result = run_in_foreground(REFINE_KIND, refine_export, config, name=f"refine {args.method}")
    print(f"run {r.id}: {r.status}")
    if r.status != "finished":
        print((r.error or "").strip().splitlines()[-1] if r.error else "", flush=True)
        return 1
    c2st = result.get("c2st")
    print(f"wrote {result['images']} refined images to {result['out']} ({result['images_per_cpu_s']} images "
          f"per CPU-second)")
    if c2st:
        print(f"C2ST AUC real vs raw {c2st['before']['auc']:.3f}, real vs refined {c2st['after']['auc']:.3f} "
              f"({c2st['features']}, {c2st['n_real']} real {c2st['real_part'] or 'all'} images)")
    print(result["caveat"])
    return 0
