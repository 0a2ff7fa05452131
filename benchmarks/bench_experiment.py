"""The SimDeepL preset end to end: real-only vs simulated-only, 3 repeats, timed, with what it found.

    .venv/bin/python benchmarks/bench_experiment.py [--real DIR] [--synthetic DIR] [--n-synthetic 10000]
                                                    [--repeats 3] [--size 64] [--model smallcnn]

Target (issue 5): the `simdeepl_table1` preset at 64 px with smallcnn on the 1,470 real images of
shared/data/derm-real and 10,000 simulated images, 3 repeats, in <= 15 minutes on 2 CPU cores. Without
--synthetic the simulator exports the 10,000 images first (timed on its own line, not in the target,
and kept under the bench's run store so a second run reuses them). Prints the load average, since
other processes on a shared box slow every number down.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package
DEFAULT_REAL = REPO.parent / "shared" / "data" / "derm-real"
TARGET_S = 15 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=str(DEFAULT_REAL), help="real image folder root/<class>/*")
    parser.add_argument("--synthetic", help="simulated image folder (default: export one with the simulator)")
    parser.add_argument("--n-synthetic", type=int, default=10_000, help="simulated images to export")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--model", default="smallcnn")
    parser.add_argument("--home", default=str(REPO / "runs" / "bench-experiment"),
                        help="run store for the bench (SIMSTUDIO_HOME)")
    args = parser.parse_args()
    os.environ["SIMSTUDIO_HOME"] = args.home
    os.environ.setdefault("SIMSTUDIO_DEVICE", "cpu")

    import torch

    from simstudio.experiments.config import load_preset, with_data
    from simstudio.experiments.runner import run_experiment_here

    print(f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
          f"load average: {os.getloadavg()[0]:.1f}")
    synthetic = args.synthetic or _export_simulated(Path(args.home), args.n_synthetic, args.size)

    cfg = load_preset("simdeepl_table1")
    cfg = with_data(cfg, real=args.real, synthetic=[f"simulated={synthetic}"], repeats=args.repeats,
                    image_size=args.size, model={**cfg.model, "model": args.model})
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    run, result = run_experiment_here(cfg, echo=True)
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    if result is None:
        print(f"experiment {run.status}: {run.error}")
        sys.exit(1)

    units = [json.loads(p.read_text()) for p in sorted(run.path.glob("units/*/predictions.json"))]
    plan = json.loads((run.path / "plan.json").read_text())
    train_s = sum(u["wall_time_s"] for u in units)
    shown = sum(
        (sum(u["unit"]["counts"]["real"].values()) + sum(u["unit"]["counts"]["synthetic"].values()))
        * u["unit"]["epochs"] for u in units)
    print(f"\nreal images: {plan['n_real']} ({plan['n_test']} in the shared test set), simulated: "
          f"{plan['synthetic']['simulated']['n']}, {args.size} px, {args.model}, {args.repeats} repeats, "
          f"train budget {cfg.train_budget} images per training")
    print(f"experiment wall time   {wall:7.1f} s  (target <= {TARGET_S} s: "
          f"{'met' if wall <= TARGET_S else 'NOT met'})")
    # on a shared box other processes stretch the wall time; CPU time / cores is what an idle box needs
    cores = min(os.cpu_count() or 1, torch.get_num_threads())
    print(f"experiment CPU time    {cpu:7.1f} s  (/ {cores} cores = {cpu / cores:.1f} s on an idle machine; "
          f"target {'met' if cpu / cores <= TARGET_S else 'NOT met'} by that measure)")
    print(f"  training + testing   {train_s:7.1f} s  over {len(units)} trainings, "
          f"{shown / max(train_s, 1e-9):.0f} training images/s")
    print(f"  data, plan, stats    {wall - train_s:7.1f} s  (decoding caches, guard rails, bootstrap, report)")
    for a in result["arms"]:
        auc, bacc = a["metrics"]["roc_auc"], a["metrics"]["balanced_accuracy"]
        print(f"{a['name']:<16} ROC-AUC {auc['mean']:.3f} ± {auc['std']:.3f}   balanced accuracy "
              f"{bacc['mean']:.3f} ± {bacc['std']:.3f}   per repeat {[round(v, 3) for v in auc['values']]}")
    sim = next(a for a in result["arms"] if a["name"] != result["baseline"])
    print(f"verdict (simulated only vs real): {sim['verdict']}")
    if sim.get("comparison", {}).get("delong", {}).get("p_value") is not None:
        print(f"DeLong p = {sim['comparison']['delong']['p_value']:.4g}, McNemar p = "
              f"{sim['comparison']['mcnemar']['p_value']:.4g} ({sim['comparison']['mcnemar']['method']})")
    print(f"load average now: {os.getloadavg()[0]:.1f}; report: {run.path / 'report.html'}")


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (decoding workers)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _export_simulated(home: Path, n: int, size: int) -> str:
    """Export `n` simulated images (half per class) once; later runs reuse the folder."""
    out = home / f"simulated-{size}px-{n}"
    if (out / "manifest.csv").is_file():
        print(f"simulated images: reusing {out}")
        return str(out)
    from simstudio.jobs import JobContext
    from simstudio.sim.export import ExportConfig, export_dataset

    t0 = time.perf_counter()
    export_dataset(ExportConfig(out=str(out), per_class=n // 2, size=size, seed=0), JobContext.local(echo=True))
    dt = time.perf_counter() - t0
    print(f"simulator export       {dt:7.1f} s  ({n / dt:.0f} images/s, not part of the experiment target)")
    return str(out)


if __name__ == "__main__":
    main()
