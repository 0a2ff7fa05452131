"""`gap A B`: how far a synthetic image set is from a real one (C2ST AUC, per-class KID/FID, embedding,
nearest-real gallery, measured lesion statistics, texture by scale, the images and the statistics that give
the synthetic set away); the views are saved in a run the Gap tab can open."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("gap", help="domain gap between a real and a synthetic image set (C2ST, KID, stats)",
                       description="Compare a real set (dataset run id or image folder) with a synthetic "
                                   "one (simulator/GAN export folder): classifier two-sample test, per-class "
                                   "KID/FID, 2-D embedding, nearest real neighbours, lesion statistics, and "
                                   "what gives the synthetic set away (images; statistics alone and in "
                                   "pairs, per class).")
    p.add_argument("real", help="real set: dataset run id or image folder (root/<class>/*)")
    p.add_argument("synthetic", help="synthetic set: image folder or dataset run id")
    p.add_argument("--part", default="", choices=["", "train", "val", "test"],
                   help="use only this part of the real set's split (default: every image)")
    p.add_argument("--split", default="", metavar="FILE", help="split CSV for a real folder")
    p.add_argument("--size", type=int, default=128, help="compare at this side in px (default 128)")
    p.add_argument("--per-class", type=int, default=200, help="at most this many images per class and set")
    p.add_argument("--features", default="stats",
                   help="feature space: stats, pixels, or a classifier run id/checkpoint (default stats)")
    p.add_argument("--embedding", default="pca", choices=["pca", "tsne"])
    p.add_argument("--classifier", default="logistic", choices=["logistic", "boosting"],
                   help="C2ST discriminator (default logistic)")
    p.add_argument("--neighbours", type=int, default=8,
                   help="nearest-real pairs to save, and the most telling images of each set (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run store folder the run is written in (default $SIMSTUDIO_HOME or ./runs)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from simstudio.eval.domain_gap import GapConfig, run_gap
    from simstudio.jobs import run_in_foreground

    if args.size < 32 or args.per_class < 4:
        raise ValueError("--size must be >= 32 and --per-class >= 4")
    config = GapConfig(real=args.real, synthetic=args.synthetic, real_part=args.part, split_file=args.split,
                       size=args.size, per_class=args.per_class, features=args.features,
                       embedding=args.embedding, classifier=args.classifier, neighbours=args.neighbours,
                       seed=args.seed)
    run, result = run_in_foreground("gap", run_gap, config, echo=not args.json, root=args.out)
    if result is None:
        return job_failed(run)
    if args.json:
        print(json.dumps({"run": run.id, **result}, indent=2))
        return 0
    print(format_gap(result))
    if result.get("telling"):
        print(format_telling(result["telling"], run.path / "samples"))
    if result.get("telling_stats", {}).get("classes"):
        from simstudio.eval.telling_stats import format_telling_stats

        print("which lesion statistics give it away, within each class (held-out AUC alone; pairs that tell "
              "the sets apart better together than either alone):")
        print(format_telling_stats(result["telling_stats"]))
    print(f"run: {run.id} (open it in the Gap tab)")
    return 0


def format_gap(result: dict) -> str:
    c = result["c2st"]
    lines = [f"C2ST AUC {c['auc']:.3f} (95% CI {c['ci'][0]:.3f}-{c['ci'][1]:.3f}; 0.5 = indistinguishable) "
             f"in feature space {result['feature_space']!r}, {result['n_real']} real vs "
             f"{result['n_synthetic']} synthetic images"]
    for cls, r in result["c2st_per_class"].items():
        f = result["fidelity"].get(cls, {})
        kid = f"KID {f['kid'] * 1000:.2f} ± {f['kid_std'] * 1000:.2f} x1e-3, FID {f['fid']:.2f}" if f else ""
        lines.append(f"  {cls:<12} C2ST AUC {r['auc']:.3f}   {kid}")
    if result.get("c2st_groups"):
        from simstudio.eval.telling_stats import format_c2st_groups

        lines += ["is the gap in the lesion or in the photo? (the same test on each group of statistics)",
                  format_c2st_groups(result["c2st_groups"])]
    if result.get("texture"):
        from simstudio.eval.texture_scales import format_texture

        lines += ["texture by scale (lightness detail, RMS L*; AUC 0.5 = the same spread):",
                  format_texture(result["texture"])]
    return "\n".join(lines)


def format_telling(telling: dict, samples) -> str:
    """Where the images that give the synthetic set away are, with the test's held-out P(synthetic)."""
    def scores(rows):
        return ", ".join(f"{r['p_synthetic']:.2f}" for r in rows)

    syn, real = telling.get("synthetic", []), telling.get("real", [])
    return (f"what gives it away (held-out P(synthetic) of the two-sample test):\n"
            f"  the {len(syn)} synthetic images it was surest of ({scores(syn)}): {samples}/telling_synthetic_*.png\n"
            f"  the {len(real)} real images it most took for synthetic ({scores(real)}): {samples}/telling_real_*.png")


def job_failed(run) -> int:
    """The job recorded why it stopped; bad input (a missing folder, no shared class) exits 2 like any
    usage error, anything else 1."""
    import sys

    first = (run.error or f"run {run.id} ended {run.status}").strip().splitlines()[0]
    print(f"error: {first}", file=sys.stderr)
    bad_input = first.startswith(("ValueError", "FileNotFoundError", "NotADirectoryError"))
    if run.status == "cancelled":
        return 130
    return 2 if bad_input else 1
