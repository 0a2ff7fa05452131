"""`experiment`: run a whole synthetic-vs-real experiment (a config file or a preset), print the results
table and verdicts, and write the report (HTML, CSV, JSON, re-run command)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "experiment",
        help="compare training sets (real, synthetic, mixed, pretrained) on the same real test set",
        description="Run an experiment: every arm trained R times (or on k folds) and tested on the same "
        "real images, compared with paired statistics. CONFIG is a JSON file or a preset name "
        "(--list-presets).",
    )
    p.add_argument(
        "config", nargs="?", help="experiment config JSON, or a preset name (e.g. simdeepl_table1)"
    )
    p.add_argument("--real", help="real dataset: a dataset run id or an image folder (root/<class>/*)")
    p.add_argument(
        "--synthetic",
        nargs="+",
        default=[],
        metavar="DIR",
        help="synthetic image folders, in the order of the config's sources, or NAME=DIR "
        "(NAME:gan=DIR marks a GAN folder for the galleries)",
    )
    p.add_argument("--ood", help="a second real test set reported as out-of-distribution")
    p.add_argument("--flipped-test", action="store_true", default=None, dest="flipped_test",
                   help="also test on a shortcut-flipped copy of the test images (each class's acquisition "
                   "moved toward the other's, lesion pixels kept)")
    p.add_argument("--split", help="a saved split CSV fixing the test images, or 'dataset' for the split saved with "
                                     "the real dataset (default: the config's, else make one and save it)")
    p.add_argument("--repeats", type=int, help="seeds per arm (holdout designs)")
    p.add_argument("--epochs", type=int, help="training epochs for every arm")
    p.add_argument("--model", help="classifier for every arm (smallcnn, hescnet, resnet18, ...)")
    p.add_argument("--size", type=int, dest="image_size", help="image side in px")
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--n-boot", type=int, dest="n_boot", help="bootstrap draws (default 2000)")
    p.add_argument("--colour-constancy", action="store_true", default=None,
                   help="Shades-of-Gray on every real and synthetic image (removes the camera's colour cast)")
    p.add_argument("--audit", action="store_true", default=None,
                   help="audit every arm's model: Δ AUC under a tint shift, flips under a vignette (slower)")
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--out", help="also copy the report files into this folder")
    p.add_argument("--resume", metavar="RUN", help="continue a stopped experiment: only unfinished units run")
    p.add_argument("--report", metavar="RUN", help="re-write the report of an experiment run and print it")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    import shutil
    from pathlib import Path

    from simstudio.experiments.analysis import summarize
    from simstudio.experiments.config import load_experiment, load_preset, preset_names, with_data
    from simstudio.experiments.report import write_report
    from simstudio.experiments.runner import run_experiment_here
    from simstudio.runs import open_run

    if args.list_presets:
        for name in preset_names():
            cfg = load_preset(name)
            print(f"{name:<28} {cfg.description}")
        return 0
    if args.report:
        run = open_run(args.report)
        summary = summarize(run.path)
        files = write_report(run.path, summary)
        if run.status == "finished":  # the app shows the stored result: keep it the same as the new report
            run.write_result({**(run.result or {}), **summary, "report": {k: str(v) for k, v in files.items()}})
    else:
        if args.resume:
            run, result = run_experiment_here(None, echo=not args.quiet, resume=args.resume)
        else:
            if not args.config:
                raise ValueError(
                    "give an experiment config JSON or a preset name (--list-presets), or --resume RUN"
                )
            cfg = load_experiment(args.config)
            model = dict(cfg.model)
            if args.epochs is not None:
                model["epochs"] = args.epochs
            if args.model:
                model["model"] = args.model
            if args.device:
                model["device"] = args.device
            cfg = with_data(
                cfg,
                real=args.real or "",
                synthetic=args.synthetic,
                ood_test=args.ood or "",
                split=args.split,
                repeats=args.repeats,
                image_size=args.image_size,
                n_boot=args.n_boot,
                colour_constancy=args.colour_constancy,
                audit=args.audit,
                flipped_test=args.flipped_test,
                name=args.name,
                model=model,
            )
            run, result = run_experiment_here(cfg, echo=not args.quiet)
        if run.status != "finished" or result is None:
            err = (run.error or run.status).strip().splitlines()
            first = err[0] if err else ""
            if not (run.path / "plan.json").is_file():  # refused before any training: bad input
                raise ValueError(f"experiment {run.id} refused: {first.partition(': ')[2] or first}")
            print(f"experiment {run.id} {run.status}: {first}")
            print(f"continue it with: python -m simstudio experiment --resume {run.id}")
            return 1
        summary = result
        files = {k: Path(v) for k, v in result["report"].items()}
    print_summary(summary)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for f in files.values():
            shutil.copy2(f, out / f.name)
        files = {k: out / f.name for k, f in files.items()}
    print(f"\nreport: {files['html']}")
    print(f"numbers: {files['csv']}, {files['numbers']}, {files['json']}")
    print(f"re-run: {Path(files['command']).read_text().strip()}")
    return 0


def print_summary(summary: dict) -> None:
    from simstudio.experiments.analysis import results_rows

    rows = results_rows(summary)
    print(f"\n{summary['name']}: {summary['n_test']} real test images, baseline '{summary['baseline']}'")
    cols = ["arm", "train images", "ROC-AUC", "ROC-AUC 95% CI (repeats)", "balanced accuracy", "training time (s)"]
    if summary.get("n_ood"):
        cols.insert(4, "OOD ROC-AUC")
    if summary.get("config", {}).get("audit"):
        from simstudio.experiments.audit_columns import COLUMNS, NO_OOD_NOTE

        cols[-1:-1] = list(COLUMNS.values())
        if not summary.get("n_ood"):
            print(f"note: {NO_OOD_NOTE}")
    if summary.get("n_flipped"):
        cols.insert(4, "flipped-test ROC-AUC")
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols))
    print("\nverdicts (vs the baseline, paired bootstrap of the AUC difference):")
    for r in rows:
        if r["verdict"] != "baseline":
            ood = f"; out of distribution: {r['OOD verdict']}" if r.get("OOD verdict") else ""
            flipped = f"; shortcut-flipped test: {r['flipped-test verdict']}" if r.get("flipped-test verdict") else ""
            print(f"  {r['arm']}: {r['verdict']}{ood}{flipped}")
    for c in summary.get("contrasts", []):
        flipped = f"; shortcut-flipped test: {c['flipped']['verdict']}" if c.get("flipped") else ""
        print(f"  {c['arm']} vs {c['reference']}: {c['verdict']}{flipped}")
    for w in summary.get("warnings", []):
        print(f"warning: {w}")
