"""`quiz`: make a blind "real or simulated?" reading test, or print and write its results."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "quiz", help='a blind "real or simulated?" reading test: make a session, or --report RUN',
        description="Make a blind reading test (a run the app's Blind test tab opens: one image at a time, "
                    "real or simulated?), or with --report print its results (accuracy with an exact binomial "
                    "95%% CI and the p-value against 50%%, per source and per class) and write answers.csv "
                    "and report.json into the run.")
    p.add_argument("--real", help="the real set: a dataset run id or an image folder (root/<class>/*)")
    p.add_argument("--synthetic", nargs="+", default=[], metavar="[NAME=]SET",
                   help="one or more synthetic sets: export folders, or runs that wrote one (simulate, generate)")
    p.add_argument("--n", type=int, default=40, help="images in all, half real and half synthetic (default 40)")
    p.add_argument("--size", type=int, default=224, help="side of the stored images in px (default 224)")
    p.add_argument("--seed", type=int, default=0, help="draws the images and their order (default 0)")
    p.add_argument("--real-part", default="", choices=["", "train", "val", "test"],
                   help="only this part of the real dataset's saved split (default: every image)")
    p.add_argument("--no-class", action="store_true", help="do not ask benign / malignant")
    p.add_argument("--no-confidence", action="store_true", help="do not ask for a confidence")
    p.add_argument("--report", metavar="RUN", help="print the results of this blind test run and write its files")
    p.add_argument("--csv", metavar="FILE", help="with --report: also write the answers CSV here")
    p.add_argument("--out", help="run store folder the run is written in / read from "
                                 "(default $SIMSTUDIO_HOME or ./runs)")
    p.set_defaults(func=run)


def run(args) -> int:
    from simstudio.eval import reader_study as rs

    if args.report:
        from simstudio.runs import open_run

        quiz = open_run(args.report, root=args.out)
        report = rs.quiz_report(quiz)
        paths = rs.write_report(quiz)
        print(rs.format_report(report))
        if args.csv:
            from simstudio.runs import atomic_write_text

            atomic_write_text(args.csv, rs.answers_csv(quiz))
            paths["csv copy"] = args.csv
        print("wrote " + ", ".join(str(p) for p in paths.values()))
        return 0
    if not args.real or not args.synthetic:
        raise ValueError("give --real and --synthetic to make a blind test, or --report RUN for its results")
    from simstudio.jobs import run_in_foreground

    config = rs.QuizConfig(real=args.real, synthetic=list(args.synthetic), n_images=args.n, size=args.size,
                           seed=args.seed, real_part=args.real_part, ask_class=not args.no_class,
                           ask_confidence=not args.no_confidence).validate()
    r, result = run_in_foreground(rs.RUN_KIND, rs.create_quiz, config, name=f"blind test · {config.n_images} images",
                                  root=args.out)
    if r.status != "finished" or result is None:
        print(f"run {r.id}: {r.status}")
        if r.error:
            print(r.error.strip().splitlines()[0])
        return 1
    counts = ", ".join(f"{n} {s}" for s, n in result["per_source"].items())
    print(f"blind test {r.id}: {result['n_items']} images ({counts}), order fixed by seed {config.seed}")
    print("open it in the app's Blind test tab (python -m simstudio serve); results: "
          f"python -m simstudio quiz --report {r.id}")
    return 0
