"""The proof of issue 7: a classifier trained only on simulated images (fair mode), tested on held-out real
images, before and after fitting the simulator; with the domain gap (C2ST AUC, KID) of each simulated set.

    .venv/bin/python benchmarks/bench_gap.py --real DATASET_RUN --preset default --preset fitted=FILE.json
        [--per-class 1000] [--repeats 3] [--epochs 8] [--size 64] [--domain TRAIN_RUN] [--out result.json]

DATASET_RUN is an imported real dataset whose saved split has train/val/test parts (without --real the
script imports ../shared/data/derm-real at 128 px with a 60/20/20 split, seed 0). Each --preset NAME=FILE
(or `default`, the built-in binary preset) is exported at --size, compared with the real *test* images
(C2ST in the lesion-statistics space and in a real-trained classifier's features, per-class KID there;
nothing is fitted on them), and trained on by an experiment arm "sim <NAME>" beside a "real" arm, all
tested on the same real test part over --repeats seeds (smallcnn, fixed epochs: no epoch is picked on
real data). The fit itself (`fit-simulator`) reads only train/val, so the test part is unseen by it.
Heavy: run it by hand, never from the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_REAL = REPO.parent / "shared" / "data" / "derm-real"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default="", help="dataset run id with a train/val/test split")
    parser.add_argument("--preset", action="append", default=[],
                        help="NAME=FILE or 'default' (repeatable); each becomes a 'sim NAME' arm")
    parser.add_argument("--per-class", type=int, default=1000, help="simulated images per class and preset")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--size", type=int, default=64, help="classifier input side (px)")
    parser.add_argument("--render", type=int, default=128,
                        help="simulated images are rendered at this side and, like the real images (cached "
                             "at 128 px), resized to --size by the classifier (default 128)")
    parser.add_argument("--augment", default="flip_rotate")
    parser.add_argument("--domain", default="", help="a classifier run trained on the real train part (for "
                                                     "C2ST/KID in its features); default: train one")
    parser.add_argument("--no-real-arm", action="store_true", help="skip the real-only arm")
    parser.add_argument("--no-gap", action="store_true", help="skip the C2ST/KID numbers")
    parser.add_argument("--colour-constancy", action="store_true",
                        help="Shades-of-Gray (p=6) on the real images (a re-import with the same split) and "
                             "on the simulated ones: the tint shortcut of the real set is gone")
    parser.add_argument("--on-val", action="store_true",
                        help="tune, don't report: the arms are tested on the real *validation* part and the "
                             "test rows are left out of the split, so choices made here never see the test")
    parser.add_argument("--home", default=str(REPO / "runs"), help="run store (SIMSTUDIO_HOME)")
    parser.add_argument("--out", default="", help="write the summary JSON here")
    args = parser.parse_args()
    os.environ["SIMSTUDIO_HOME"] = args.home
    os.environ.setdefault("SIMSTUDIO_DEVICE", "cpu")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    real = args.real or _import_real()
    split = str(Path(os.environ["SIMSTUDIO_HOME"]) / real / "split.csv")
    if args.colour_constancy:
        real = _import_real(shades_of_gray=True, source=_run_root(real))
    if args.on_val:
        split = _val_as_test(split, Path(args.home) / "bench-gap")
    presets = _parse_presets(args.preset or ["default"], Path(args.home) / "bench-gap")
    domain = "" if args.no_gap else args.domain or _train_domain_classifier(real, args.size)
    summary = {"real": real, "split": split, "on_val": args.on_val, "colour_constancy": args.colour_constancy,
               "domain_classifier": domain, "size": args.size, "render": args.render,
               "per_class": args.per_class, "repeats": args.repeats, "epochs": args.epochs, "sets": {}}
    folders = {}
    for name, preset in presets.items():
        folders[name] = _export(Path(args.home), name, preset, args.per_class, args.render)
        if args.colour_constancy:
            folders[name] = _shades_of_gray_copy(folders[name])
        gap = {} if args.no_gap else _gap_numbers(real, folders[name], domain,
                                                      "val" if args.on_val else "test")
        summary["sets"][name] = {"preset": preset, "folder": folders[name], **gap}
        print(json.dumps({name: summary["sets"][name]}, indent=1))
    summary["experiment"] = _experiment(real, split, folders, args)
    _print_table(summary)
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {args.out}")


def _import_real(shades_of_gray: bool = False, source: str = "") -> str:
    """Import the real folder at 128 px with a 60/20/20 split (seed 0); with `shades_of_gray` the images
    are colour-corrected (the experiment still uses the first import's split file)."""
    from simstudio.data.importer import ImportConfig, import_dataset
    from simstudio.data.preprocess import Preprocessing
    from simstudio.jobs import run_in_foreground

    pre = Preprocessing(size=128, shades_of_gray=shades_of_gray)
    config = ImportConfig(source=source or str(DEFAULT_REAL), preprocessing=pre, split="60/20/20",
                          seed=0).validated()
    name = "derm-real-128" + ("-shades-of-gray" if shades_of_gray else "")
    run, _ = run_in_foreground("dataset", import_dataset, config, name=name)
    return run.id


def _val_as_test(split: str, folder: Path) -> str:
    """A copy of `split` whose val rows are the test part and whose test rows are gone."""
    import csv

    with open(split, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["part"] != "test"]
    for r in rows:
        r["part"] = "test" if r["part"] == "val" else r["part"]
    out = folder / f"{Path(split).parent.name}-val-as-test.csv"
    folder.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(out)


def _run_root(dataset_run: str) -> str:
    from simstudio.runs import open_run

    return str(Path(open_run(dataset_run).read_json("dataset.json")["root"]))


def _shades_of_gray_copy(folder: str) -> str:
    """The simulated set with the same colour constancy as the real images (a sibling folder)."""
    import shutil

    import cv2

    from simstudio.data.preprocess import shades_of_gray

    out = Path(folder + "-shades-of-gray")
    if (out / "manifest.csv").is_file():
        return str(out)
    for png in sorted(Path(folder).glob("*/*.png")):
        (out / png.parent.name).mkdir(parents=True, exist_ok=True)
        rgb = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
        cv2.imwrite(str(out / png.parent.name / png.name), cv2.cvtColor(shades_of_gray(rgb), cv2.COLOR_RGB2BGR))
    shutil.copy(Path(folder) / "manifest.csv", out / "manifest.csv")
    return str(out)


def _parse_presets(specs: list[str], folder: Path) -> dict[str, str]:
    """NAME -> preset file. 'default' is the built-in preset as it is now, written to a file named by its
    content, so the numbers can be traced to the exact distributions even after the defaults change."""
    import hashlib

    from simstudio.sim.presets import default_preset, preset_to_dict, save_preset

    out = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if name == "default" and not path:
            text = json.dumps(preset_to_dict(default_preset()), sort_keys=True)
            path = folder / f"default-preset-{hashlib.sha1(text.encode()).hexdigest()[:8]}.json"
            folder.mkdir(parents=True, exist_ok=True)
            save_preset(default_preset(), path)
        out[name] = str(Path(path).resolve())
    return out


def _train_domain_classifier(real: str, size: int) -> str:
    """A smallcnn trained on the real train part (val for its epoch choice); its penultimate layer is the
    domain feature space of the gap numbers."""
    from simstudio.jobs import run_in_foreground
    from simstudio.train.classifier import ClassifierConfig, train_classifier

    config = ClassifierConfig(real=real, mode="real", image_size=size, epochs=10, optimizer="adam", lr=1e-3,
                              schedule="cosine", batch_size=64)
    run, result = run_in_foreground("train", train_classifier, config, name="domain classifier (real train)")
    print(f"domain classifier {run.id}: real-only test ROC-AUC {result['test']['roc_auc']:.3f}")
    return run.id


def _export(home: Path, name: str, preset: str, per_class: int, size: int) -> str:
    from simstudio.jobs import JobContext
    from simstudio.sim.export import ExportConfig, export_dataset

    tag = Path(preset).stem
    out = home / "bench-gap" / f"sim-{name}-{tag}-{size}px-{per_class}"
    if not (out / "manifest.csv").is_file():
        t0 = time.perf_counter()
        export_dataset(ExportConfig(out=str(out), per_class=per_class, size=size, preset=preset, seed=1),
                       JobContext.local(echo=True))
        print(f"exported {name} in {time.perf_counter() - t0:.0f} s")
    return str(out)


def _gap_numbers(real: str, folder: str, domain: str, part: str) -> dict:
    """C2ST (statistics space, boosting; domain features, logistic) and per-class KID in domain features
    between the simulated set and the real `part` (test, or val when tuning)."""
    from simstudio.eval.domain_gap import GapConfig, compute_gap, load_gap_sets

    out = {}
    for key, features, clf in (("stats", "stats", "boosting"), ("domain", domain, "logistic")):
        config = GapConfig(real=real, synthetic=folder, real_part=part, size=128 if key == "stats" else 64,
                           per_class=300, features=features, classifier=clf, neighbours=0)
        r, rl, s, sl, classes = load_gap_sets(config)
        report = compute_gap(r, rl, s, sl, classes, features=features, classifier=clf, neighbours=0)
        out[f"c2st_{key}"] = round(report.c2st.auc, 4)
        out[f"c2st_{key}_ci"] = [round(v, 4) for v in report.c2st.ci]
        out[f"c2st_{key}_per_class"] = {c: round(v.auc, 4) for c, v in report.c2st_per_class.items()}
        if key == "domain":
            out["kid_domain"] = {c: round(v["kid"], 5) for c, v in report.fidelity.items()}
    return out


def _experiment(real: str, split: str, folders: dict[str, str], args) -> dict:
    from simstudio.experiments.runner import run_experiment_here

    arms = [] if args.no_real_arm else [{"name": "real", "composition": "real"}]
    arms += [{"name": f"sim {n}", "composition": "synthetic", "synthetic": n} for n in folders]
    config = {
        "name": "sim-only vs real (issue 7 proof)",
        "description": "Simulated-only arms (fair presets, before/after fitting) and a real-only arm, tested "
                       "on the same real test part; fixed epochs, no epoch chosen on real images.",
        "real": real, "split": split,
        "synthetic": [{"name": n, "path": p, "kind": "simulated"} for n, p in folders.items()],
        "repeats": args.repeats, "image_size": args.size, "augment": args.augment,
        "model": {"model": "smallcnn", "epochs": args.epochs, "batch_size": 64, "optimizer": "adam",
                  "lr": 0.001, "schedule": "cosine", "select_best": False},
        "arms": arms, "baseline": arms[0]["name"],
        # a fitted preset has seen the validation part; tuning on it is knowingly optimistic
        "fit_overlap_ok": args.on_val,
    }
    t0 = time.perf_counter()
    run, result = run_experiment_here(config, echo=True)
    if result is None:
        raise SystemExit(f"experiment {run.status}: {run.error}")
    from scipy import stats

    arms_out = {}
    for a in result["arms"]:
        auc = a["metrics"]["roc_auc"]
        n = len(auc["values"])
        # 95 % t-interval of the mean over seeds (the seeds are the repeats; the test images are shared)
        half = stats.t.ppf(0.975, n - 1) * auc["std"] / n ** 0.5 if n > 1 else float("nan")
        arms_out[a["name"]] = {"roc_auc_mean": auc["mean"], "roc_auc_std": auc["std"],
                               "roc_auc_values": auc["values"], "ci": [auc["mean"] - half, auc["mean"] + half],
                               "verdict": a.get("verdict", "")}
    return {"run": run.id, "seconds": round(time.perf_counter() - t0), "arms": arms_out}


def _print_table(summary: dict) -> None:
    print("\nset            C2ST stats  C2ST domain  KID domain (benign / malignant)")
    for name, s in summary["sets"].items():
        if "kid_domain" not in s:
            continue
        kid = s["kid_domain"]
        print(f"{name:<14} {s['c2st_stats']:.3f}       {s['c2st_domain']:.3f}        "
              f"{kid.get('benign', float('nan')):.4f} / {kid.get('malignant', float('nan')):.4f}")
    part = "validation part (tuning)" if summary.get("on_val") else "test part"
    print(f"\narm            ROC-AUC on the real {part} (mean ± sd over repeats) [95% CI]")
    for name, a in summary["experiment"]["arms"].items():
        ci = a.get("ci")
        ci_txt = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else ""
        print(f"{name:<14} {a['roc_auc_mean']:.3f} ± {a['roc_auc_std']:.3f} {ci_txt}  "
              f"per seed {[round(v, 3) for v in a['roc_auc_values']]}")


if __name__ == "__main__":
    main()
