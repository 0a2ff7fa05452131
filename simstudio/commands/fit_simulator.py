"""`fit-simulator`: search the simulator preset's distributions so that simulated images match a real
dataset's validation images (fair mode by default), and save the fitted preset with its provenance."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("fit-simulator", help="fit the simulator's class presets to a real dataset "
                                             "(never its test part)",
                       description="Optuna search over the means and rates of the preset's lesion "
                                   "distributions (and the shared acquisition ones) minimising a gap between "
                                   "simulated and real images, or maximising a quick sim-only classifier's "
                                   "AUC on the real validation images. The test part of the split is never "
                                   "read. Writes the fitted preset (JSON, loadable by `simulate --preset`).")
    p.add_argument("real", help="real dataset: dataset run id (with its saved split) or image folder")
    p.add_argument("--split", default="", metavar="FILE", help="split CSV for a real folder")
    p.add_argument("--parts", default="val", help="split parts to fit to: val, train or train,val (default val)")
    p.add_argument("--preset", default="", help="preset JSON to start from (default: built-in binary)")
    p.add_argument("--mode", choices=["fair", "matching"], default="fair",
                   help="fair (default): acquisition shared by all classes; matching: per class (labelled)")
    p.add_argument("--objective", choices=["stats", "c2st", "kid", "sim_auc", "stats_auc", "domain_auc"],
                   default="stats",
                   help="stats (default), c2st, kid, sim_auc, stats_auc, domain_auc (kid and domain_auc "
                        "need --classifier)")
    p.add_argument("--space", choices=["compact", "full"], default="compact",
                   help="which knobs are searched: compact = the centres of lesion and camera distributions; full "
                        "adds structure and colour rates and the benign mix")
    p.add_argument("--any-order", action="store_true",
                   help="let trials break the ABCD order (benign lesions more asymmetric, irregular or varied than "
                        "melanomas); by default such draws are skipped unrendered and do not count as trials")
    p.add_argument("--knobs", default="", help="comma-separated knob names to search (default: the space)")
    p.add_argument("--trials", type=int, default=30, help="optimizer trials (default 30)")
    p.add_argument("--per-class", type=int, default=120, help="simulated images per class and trial")
    p.add_argument("--size", type=int, default=96, help="side at which images are compared (default 96)")
    p.add_argument("--real-per-class", type=int, default=300, help="at most this many real images per class")
    p.add_argument("--classifier", default="", help="kid, domain_auc: classifier run trained on real images")
    p.add_argument("--epochs", type=int, default=4, help="sim_auc objective: epochs of the quick classifier")
    p.add_argument("--colour-constancy", action="store_true",
                   help="Shades of Gray on real and simulated images before comparing (removes the camera cast)")
    p.add_argument("--max-c2st", type=float, default=0.0, metavar="AUC",
                   help="realism constraint: only trials whose lesion statistics a two-sample classifier tells from "
                        "the real ones with C2ST AUC <= this count (mean over classes; 0.5 = indistinguishable; "
                        "default 0 = no constraint). Keeps an AUC fit from buying its AUC with unrealistic images")
    p.add_argument("--radius", type=float, default=1.0,
                   help="trust region: how far from the start preset a trial may move each knob, as a share of the "
                        "knob's range (default 1 = anywhere; 0.15 keeps trials near a realistic start)")
    p.add_argument("--confirm", type=int, default=0, metavar="K",
                   help="after the search, score the start and the best 3 trials again on K fresh seeds and keep the "
                        "best mean (default 0 = keep the best single score, which a noisy objective such as sim_auc "
                        "biases upward; 5 costs 20 more scores)")
    p.add_argument("--camera", choices=["ranges", "photos"], default="ranges",
                   help="ranges (default): the preset's own tint, white balance and exposure ranges, searched; "
                        "photos: skin type, cast and exposure drawn together from each real photo's skin (all "
                        "classes pooled, so no class gets its own camera), not searched")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="", help="also write the fitted preset here (e.g. assets/presets/fitted-x.json)")
    p.add_argument("--name", default="", help="name of the fitted preset")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from simstudio.commands.gap import job_failed
    from simstudio.experiments.fit_keep import confirm_summary, realism_summary
    from simstudio.experiments.simfit import SimFitConfig, abcd_summary, camera_summary, fit_simulator
    from simstudio.jobs import run_in_foreground

    config = SimFitConfig(real=args.real, split_file=args.split,
                          real_parts=[p.strip() for p in args.parts.split(",") if p.strip()],
                          base_preset=args.preset, mode=args.mode, objective=args.objective, space=args.space,
                          knobs=[k.strip() for k in args.knobs.split(",") if k.strip()], n_trials=args.trials,
                          per_class=args.per_class, size=args.size, real_per_class=args.real_per_class,
                          classifier=args.classifier, quick_epochs=args.epochs, seed=args.seed,
                          colour_constancy=args.colour_constancy, max_c2st=args.max_c2st, radius=args.radius,
                          confirm=args.confirm, camera=args.camera, out=args.out,
                          name=args.name, keep_abcd=not args.any_order).validate()
    run, result = run_in_foreground("simfit", fit_simulator, config, echo=not args.json)
    if result is None:
        return job_failed(run)
    if args.json:
        print(json.dumps({"run": run.id, **result}, indent=2))
        return 0
    arrow = "lower is better" if result["direction"] == "minimize" else "higher is better"
    print(f"{result['objective']} ({arrow}): {result['start_value']:.4f} at the starting preset -> "
          f"{result['best_value']:.4f} at trial {result['best_trial']} of {result['trials']} "
          f"({result['mode']} mode, {len(result['knobs'])} knobs)")
    if result.get("max_c2st"):
        print(realism_summary(result))
    if result.get("confirm"):
        print(confirm_summary(result))
    if result["abcd_skipped"]:
        print(abcd_summary(result))
    if result.get("camera_table"):
        print(camera_summary(result))
    print(f"fitted preset: {result['preset']}")
    print(f"run: {run.id}")
    return 0
