"""The realism numbers of the simulator in one place, per preset: C2ST AUC between simulated and real
images in lesion statistics and in a real-trained network's features, per-class KID there, and the ROC-AUC
on held-out real images of a classifier trained on that preset's images only (mean ± sd over seeds, 95 %
CI), beside a real-only arm (issues 7 and 13).

    .venv/bin/python benchmarks/bench_gap.py --real DATASET_RUN [--preset default-binary --preset
        fitted-derm-real ...] [--per-class 1000] [--repeats 3] [--epochs 8] [--size 64] [--domain TRAIN_RUN]
        [--experiment EXPERIMENT_RUN] [--out result.json]
    small CPU budget: --per-class 100 --gap-per-class 60 --repeats 2 --epochs 2 --domain-epochs 2

DATASET_RUN is an imported real dataset whose saved split has train/val/test parts (without --real the
script imports ../shared/data/derm-real at 128 px with a 60/20/20 split, seed 0). Each --preset (a shipped
preset's name, a JSON file, or NAME=FILE; default: default-binary and every shipped fitted-*.json) is
exported at --render px, compared with the real *test* images (C2ST in the lesion-statistics space and in
a real-trained classifier's features, per-class KID there; nothing is fitted on them), and trained on by
an experiment arm "sim <NAME>" beside a "real" arm, all tested on the same real test part over --repeats
seeds (smallcnn, fixed epochs: no epoch is picked on real data). `--experiment RUN` takes the sim-only
AUCs from a finished experiment instead (e.g. `experiment sim_only_vs_real`, whose arms name their
presets), so the proof is not trained twice. The fit itself (`fit-simulator`) reads only train/val, so
the test part is unseen by it. Heavy: run it by hand, never from the tests.
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
# ../shared beside the repository (a worktree one level further down finds it one level up)
DEFAULT_REAL = next((p / "shared" / "data" / "derm-real" for p in (REPO.parent, REPO.parent.parent)
                     if (p / "shared" / "data" / "derm-real").is_dir()), REPO.parent / "shared" / "data" / "derm-real")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default="", help="dataset run id with a train/val/test split")
    parser.add_argument("--preset", action="append", default=[],
                        help="a shipped preset's name, a JSON file, NAME=FILE or 'default' (repeatable); each "
                             "becomes a 'sim NAME' arm (default: default-binary and every shipped fitted-*)")
    parser.add_argument("--per-class", type=int, default=1000, help="simulated images per class and preset")
    parser.add_argument("--repeats", type=int, default=3, help="seeds per arm")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--gap-per-class", type=int, default=300,
                        help="at most this many images per class and set in the C2ST/KID numbers (default 300)")
    parser.add_argument("--domain-epochs", type=int, default=10,
                        help="epochs of the real-trained classifier whose features the gap numbers use")
    parser.add_argument("--seed", type=int, default=1, help="base seed of the simulated exports")
    parser.add_argument("--experiment", default="",
                        help="a finished experiment run: take each preset's sim-only AUCs from its arms "
                             "instead of training them again")
    parser.add_argument("--size", type=int, default=64, help="classifier input side (px)")
    parser.add_argument("--render", type=int, default=128,
                        help="simulated images are rendered at this side and, like the real images (cached "
                             "at 128 px), resized to --size by the classifier (default 128)")
    parser.add_argument("--augment", default="flip_rotate")
    parser.add_argument("--domain", default="", help="a classifier run trained on the real train part (for "
                                                     "C2ST/KID in its features); default: train one")
    parser.add_argument("--no-real-arm", action="store_true", help="skip the real-only arm")
    parser.add_argument("--no-gap", action="store_true", help="skip the C2ST/KID numbers")
    parser.add_argument("--no-experiment", action="store_true",
                        help="only the C2ST/KID numbers: train no sim-only arm")
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
    presets = _parse_presets(args.preset or _shipped_binary_presets(), Path(args.home) / "bench-gap")
    domain = "" if args.no_gap else args.domain or _train_domain_classifier(real, args.size, args.domain_epochs)
    from simstudio.sim.render import RENDERER_VERSION

    summary = {"real": real, "split": split, "on_val": args.on_val, "colour_constancy": args.colour_constancy,
               "domain_classifier": domain, "size": args.size, "render": args.render,
               "renderer_version": RENDERER_VERSION, "gap_per_class": args.gap_per_class,
               "per_class": args.per_class, "repeats": args.repeats, "epochs": args.epochs, "sets": {}}
    folders = {}
    for name, preset in presets.items():
        folders[name] = _export(Path(args.home), name, preset, args.per_class, args.render, args.seed)
        if args.colour_constancy:
            folders[name] = _shades_of_gray_copy(folders[name])
        gap = {} if args.no_gap else _gap_numbers(real, folders[name], domain,
                                                  "val" if args.on_val else "test", args.gap_per_class)
        summary["sets"][name] = {"preset": preset, "folder": folders[name], **gap}
        print(json.dumps({name: summary["sets"][name]}, indent=1))
    if args.no_experiment:
        summary["experiment"] = {"run": "none (--no-experiment)", "arms": {}}
    elif args.experiment:
        summary["experiment"] = _experiment_arms(args.experiment, presets)
    else:
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
    from simstudio.data.sources import scan_image_folder

    for rel in (it.file for it in scan_image_folder(folder).items):  # images only, never their masks
        png = Path(folder) / rel
        (out / png.parent.name).mkdir(parents=True, exist_ok=True)
        rgb = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
        cv2.imwrite(str(out / png.parent.name / png.name), cv2.cvtColor(shades_of_gray(rgb), cv2.COLOR_RGB2BGR))
    shutil.copy(Path(folder) / "manifest.csv", out / "manifest.csv")
    return str(out)


def _parse_presets(specs: list[str], folder: Path) -> dict[str, str]:
    """NAME -> preset file. 'default' is the built-in preset as it is now, written to a file named by its
    content, so the numbers can be traced to the exact distributions even after the defaults change."""
    import hashlib

    from simstudio.sim.presets import PRESETS_DIR, default_preset, preset_to_dict, save_preset

    out = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if name == "default" and not path:
            text = json.dumps(preset_to_dict(default_preset()), sort_keys=True)
            path = folder / f"default-preset-{hashlib.sha1(text.encode()).hexdigest()[:8]}.json"
            folder.mkdir(parents=True, exist_ok=True)
            save_preset(default_preset(), path)
        elif not path:  # a shipped preset's name or a file
            path = PRESETS_DIR / f"{name}.json" if (PRESETS_DIR / f"{name}.json").is_file() else name
            name = Path(name).stem
        out[name] = str(Path(path).resolve())
    return out


def _shipped_binary_presets() -> list[str]:
    """default-binary and every shipped fitted preset of the binary task."""
    from simstudio.sim.presets import load_preset, preset_names

    fitted = [n for n in preset_names() if n.startswith("fitted-")
              and load_preset(n).output_classes == ["benign", "malignant"]]
    return ["default-binary", *fitted]


def _train_domain_classifier(real: str, size: int, epochs: int = 10) -> str:
    """A smallcnn trained on the real train part (val for its epoch choice); its penultimate layer is the
    domain feature space of the gap numbers."""
    from simstudio.jobs import run_in_foreground
    from simstudio.train.classifier import ClassifierConfig, train_classifier

    config = ClassifierConfig(real=real, mode="real", image_size=size, epochs=epochs, optimizer="adam", lr=1e-3,
                              schedule="cosine", batch_size=64)
    run, result = run_in_foreground("train", train_classifier, config, name="domain classifier (real train)")
    print(f"domain classifier {run.id}: real-only test ROC-AUC {result['test']['roc_auc']:.3f}")
    return run.id


def _export(home: Path, name: str, preset: str, per_class: int, size: int, seed: int = 1) -> str:
    import hashlib

    from simstudio.jobs import JobContext
    from simstudio.sim.export import ExportConfig, export_once
    from simstudio.sim.render import RENDERER_VERSION

    # Named by the preset's content and the renderer: a refitted preset or a new renderer is a new set.
    digest = hashlib.sha1(Path(preset).read_bytes()).hexdigest()[:8]
    seed_tag = "" if seed == 1 else f"-s{seed}"
    out = home / "bench-gap" / f"sim-{name}-{digest}-r{RENDERER_VERSION}-{size}px-{per_class}{seed_tag}"
    t0 = time.perf_counter()
    # a plain and a --colour-constancy run started together share this folder: one exports, one waits
    if export_once(ExportConfig(out=str(out), per_class=per_class, size=size, preset=preset, seed=seed),
                   JobContext.local(echo=True)):
        print(f"exported {name} in {time.perf_counter() - t0:.0f} s")
    return str(out)


def _gap_numbers(real: str, folder: str, domain: str, part: str, per_class: int = 300) -> dict:
    """C2ST (statistics space, boosting; domain features, logistic), per-class KID in domain features,
    texture by scale and which statistics give the set away, between the simulated set and the real `part`
    (test, or val when tuning)."""
    from simstudio.eval.domain_gap import GapConfig, compute_gap, load_gap_sets

    out = {}
    for key, features, clf in (("stats", "stats", "boosting"), ("domain", domain, "logistic")):
        config = GapConfig(real=real, synthetic=folder, real_part=part, size=128 if key == "stats" else 64,
                           per_class=per_class, features=features, classifier=clf, neighbours=0)
        r, rl, s, sl, classes = load_gap_sets(config)
        report = compute_gap(r, rl, s, sl, classes, features=features, classifier=clf, neighbours=0)
        out[f"c2st_{key}"] = round(report.c2st.auc, 4)
        out[f"c2st_{key}_ci"] = [round(v, 4) for v in report.c2st.ci]
        out[f"c2st_{key}_per_class"] = {c: round(v.auc, 4) for c, v in report.c2st_per_class.items()}
        if key == "domain":
            out["kid_domain"] = {c: round(v["kid"], 5) for c, v in report.fidelity.items()}
        else:
            out["texture"] = report.texture  # at 128 px: at 64 the finest bands are gone
            out["c2st_groups"] = {g: {"all": round(v["all"]["auc"], 4),
                                      **{c: round(r["auc"], 4) for c, r in v["per_class"].items()}}
                                  for g, v in report.c2st_groups.items()}
            out["telling_stats"] = report.telling_stats
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
    # 95 % t-interval of the mean over seeds (the seeds are the repeats; the test images are shared)
    arms_out = {a["name"]: _arm_numbers(a) for a in result["arms"]}
    return {"run": run.id, "seconds": round(time.perf_counter() - t0), "arms": arms_out}


def _experiment_arms(run_id: str, presets: dict[str, str]) -> dict:
    """The arms of a finished experiment as this script's table rows: a preset's arm is named "sim NAME"
    when the experiment trained only on a source drawn from that preset (by name or file)."""
    from simstudio.runs import open_run

    run = open_run(run_id)
    if run.status != "finished" or not run.result:
        raise SystemExit(f"experiment {run_id} is {run.status}, not finished")
    cfg = run.read_json("config.json")
    source_preset = {s["name"]: Path(s.get("preset") or s.get("path") or "").stem for s in cfg.get("synthetic", [])}
    arm_source = {a["name"]: a.get("synthetic", "") for a in cfg.get("arms", [])
                  if a.get("composition") in ("synthetic", "real")}
    names = {Path(f).stem: n for n, f in presets.items()}
    names.update({n: n for n in presets})
    arms_out = {}
    for a in run.result["arms"]:
        if a["name"] not in arm_source:
            continue
        src = arm_source[a["name"]]
        preset = source_preset.get(src, "")
        label = "real" if not src else f"sim {names.get(preset, preset or src)}"
        arms_out[label] = _arm_numbers(a)
    return {"run": run.id, "seconds": None, "arms": arms_out, "from_experiment": cfg.get("name", "")}


def _arm_numbers(a: dict) -> dict:
    from scipy import stats

    auc = a["metrics"]["roc_auc"]
    n = len(auc["values"])
    half = stats.t.ppf(0.975, n - 1) * auc["std"] / n ** 0.5 if n > 1 else float("nan")
    return {"roc_auc_mean": auc["mean"], "roc_auc_std": auc["std"], "roc_auc_values": auc["values"],
            "ci": [auc["mean"] - half, auc["mean"] + half], "verdict": a.get("verdict", "")}


def _print_table(summary: dict) -> None:
    """One row per preset: the realism numbers side by side (and the real-only arm's AUC)."""
    part = "validation part (tuning)" if summary.get("on_val") else "test part"
    cc = ", colour constancy on every image" if summary.get("colour_constancy") else ""
    print(f"\nrealism per preset (renderer version {summary.get('renderer_version')}; real {part}{cc}; "
          f"C2ST 0.5 = indistinguishable)")
    arms = summary["experiment"]["arms"]
    head = f"{'preset':<24} {'C2ST stats [95% CI]':<22} {'C2ST features [95% CI]':<24} {'KID per class':<34} " \
           f"sim-only ROC-AUC mean ± sd [95% CI] (per seed)"
    print(head)
    for name, s in summary["sets"].items():
        gap_stats = _with_ci(s, "c2st_stats")
        gap_feat = _with_ci(s, "c2st_domain")
        kid = ", ".join(f"{c} {v:.4f}" for c, v in s.get("kid_domain", {}).items()) or "-"
        print(f"{name:<24} {gap_stats:<22} {gap_feat:<24} {kid:<34} {_auc_text(arms.get(f'sim {name}'))}")
    if "real" in arms or "real only" in arms:
        print(f"{'(real images only)':<24} {'':<22} {'':<24} {'':<34} "
              f"{_auc_text(arms.get('real') or arms.get('real only'))}")
    print(f"experiment run: {summary['experiment']['run']}")
    print("\nC2ST on each group of statistics alone (lesion: read per class; acquisition: read pooled, fair mode "
          "shares it between the classes)")
    for name, s in summary["sets"].items():
        for group, g in s.get("c2st_groups", {}).items():
            per = ", ".join(f"{c} {v:.3f}" for c, v in g.items() if c != "all")
            print(f"{name:<24} {group:<12} pooled {g['all']:.3f}; {per}")
    from simstudio.eval.telling_stats import format_telling_stats
    from simstudio.eval.texture_scales import format_texture

    for name, s in summary["sets"].items():
        if s.get("texture"):
            print(f"\ntexture by scale at 128 px, {name} (RMS L* real / simulated, AUC 0.5 = the same spread):")
            print(format_texture(s["texture"]))
        if s.get("telling_stats", {}).get("classes"):
            print(f"\nwhich statistics give {name} away, within each class (held-out AUC alone; pairs better "
                  f"together than either alone):")
            print(format_telling_stats(s["telling_stats"]))


def _with_ci(s: dict, key: str) -> str:
    if key not in s:
        return "-"
    lo, hi = s.get(f"{key}_ci", [float("nan")] * 2)
    return f"{s[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def _auc_text(a: dict | None) -> str:
    if not a:
        return "-"
    lo, hi = a["ci"]
    return (f"{a['roc_auc_mean']:.3f} ± {a['roc_auc_std']:.3f} [{lo:.3f}, {hi:.3f}] "
            f"({', '.join(f'{v:.3f}' for v in a['roc_auc_values'])})")


if __name__ == "__main__":
    main()
