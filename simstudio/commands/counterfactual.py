"""`counterfactual`: vary one simulator parameter with everything else fixed and print how a real-trained
classifier's P(malignant) follows it; saves the curve, a strip of the lesion and Grad-CAM grids."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("counterfactual", help="sweep one simulator parameter and record a classifier's "
                                              "P(malignant) (which ABCD cue does it use?)",
                       description="Draw N lesions, render each with PARAM set to every value of a sweep "
                                   "(all else fixed, same random draws), and record a trained classifier's "
                                   "P(positive class). Grad-CAM maps of simulated (and real) images are saved "
                                   "in the run.")
    p.add_argument("classifier", help="classifier trained on real images: training run id or checkpoint")
    p.add_argument("param", help="simulator parameter to sweep, e.g. asymmetry, border_width, diameter_mm")
    p.add_argument("--values", type=int, default=9, help="number of values over the range (default 9)")
    p.add_argument("--low", type=float, default=None, help="start of the sweep (default: parameter minimum)")
    p.add_argument("--high", type=float, default=None, help="end of the sweep (default: parameter maximum)")
    p.add_argument("--class", dest="class_name", default="benign",
                   help="lesions are draws of this output class or class preset (default benign)")
    p.add_argument("--preset", default="", help="simulator preset JSON (default: the built-in binary preset)")
    p.add_argument("--samples", type=int, default=8, help="lesions per value (default 8)")
    p.add_argument("--size", type=int, default=128, help="render side in px (default 128)")
    p.add_argument("--real", default="", help="real images for Grad-CAM beside the simulated ones")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from simstudio.commands.gap import job_failed
    from simstudio.eval.counterfactual import CounterfactualConfig, run_counterfactual, sweep_values
    from simstudio.jobs import run_in_foreground

    sweep_values(args.param, args.values, args.low, args.high)   # bad parameter or range: exit 2 now
    if args.samples < 1:
        raise ValueError("--samples must be at least 1")
    config = CounterfactualConfig(classifier=args.classifier, param=args.param, n_values=args.values,
                                  low=args.low, high=args.high, class_name=args.class_name, preset=args.preset,
                                  n_samples=args.samples, size=args.size, seed=args.seed, real=args.real)
    run, result = run_in_foreground("counterfactual", run_counterfactual, config, echo=not args.json)
    if result is None:
        return job_failed(run)
    if args.json:
        print(json.dumps({"run": run.id, **{k: v for k, v in result.items() if k != "probs"}}, indent=2))
        return 0
    print(f"P({result['positive_class']}) of {result['classifier']} over {result['param']} "
          f"({result['n_samples']} {result['class_name']} lesions, mean ± sd):")
    measured = result.get("measured", {})
    for i, v in enumerate(result["values"]):
        cue = ", ".join(f"{k} {measured[k][i]:.3f}" for k in ("asymmetry", "compactness", "area_frac")
                        if k in measured)
        print(f"  {result['param']} = {v:<8} {result['mean'][i]:.3f} ± {result['std'][i]:.3f}   measured: {cue}")
    print(f"change from first to last value: {result['change']:+.3f}")
    print(f"run: {run.id} (sweep strip and Grad-CAM grids in its samples/)")
    return 0
