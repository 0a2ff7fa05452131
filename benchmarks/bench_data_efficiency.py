"""The data-efficiency preset end to end, timed: 6 real sizes x 4 arms x 3 seeds at 64 px with smallcnn.

    .venv/bin/python benchmarks/bench_data_efficiency.py --real DATASET_ID [--repeats 3] [--sizes 25 50 ...]
                                                         [--lines "real only" ...] [--home RUNS] [--log units.jsonl]

Target (issue 16): the whole preset (simulated export included, when the run store has no copy of it yet)
in <= 45 minutes on a 2-core CPU. Wall time on a shared box says little, so this prints the process's CPU
time too (user + system, this process and its children) and the load average sampled every 30 s; CPU time
/ cores is what an idle 2-core machine would need at best. Every finished unit appends one line (wall, CPU,
load) to --log, so a run stopped early still tells the time per unit. At the end the report is written
again by a fresh process (`experiment --report`), which prints the curve and worth-N lines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package
TARGET_S = 45 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", required=True, help="real dataset run id (with a saved split) or folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", help="real images per class (0 = all); default the preset's")
    parser.add_argument("--lines", nargs="+", help="curve lines to run (names of the preset's curve_arms); "
                        "default all of them")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--model", default="smallcnn")
    parser.add_argument("--ood", default="", help="an out-of-distribution real test set")
    parser.add_argument("--home", default=os.environ.get("SIMSTUDIO_HOME", str(REPO / "runs")),
                        help="run store (SIMSTUDIO_HOME); the real dataset id must live there")
    parser.add_argument("--log", default="", help="one JSON line per finished unit (default: none)")
    parser.add_argument("--resume", default="", metavar="RUN",
                        help="continue a stopped run of this bench (its finished units are kept)")
    args = parser.parse_args()
    os.environ["SIMSTUDIO_HOME"] = args.home
    os.environ.setdefault("SIMSTUDIO_DEVICE", "cpu")

    import torch

    from simstudio.experiments.config import load_experiment, load_preset, with_data
    from simstudio.experiments.data_efficiency import curve_arm_name
    from simstudio.experiments.runner import run_experiment_here

    loads: list[float] = []
    stop = threading.Event()

    def sample():
        while not stop.wait(30):
            loads.append(os.getloadavg()[0])

    threading.Thread(target=sample, daemon=True).start()
    print(f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
          f"load average: {os.getloadavg()[0]:.1f}", flush=True)
    cfg = load_preset("data_efficiency")
    if args.lines:
        unknown = sorted(set(args.lines) - {t.name for t in cfg.curve_arms})
        if unknown:
            parser.error(f"no curve line(s) {', '.join(unknown)}")
        cfg = with_data(cfg, curve_arms=[t.__dict__ for t in cfg.curve_arms if t.name in args.lines])
    if args.sizes:
        cfg = with_data(cfg, real_sizes=args.sizes, baseline=curve_arm_name("real only", 0 if 0 in args.sizes
                                                                             else max(args.sizes)))
    cfg = with_data(cfg, real=args.real, ood_test=args.ood, repeats=args.repeats, image_size=args.size,
                    model={**cfg.model, "model": args.model})
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    log = Path(args.log) if args.log else None

    def on_event(event, ctx):
        if event.get("type") == "unit" and log is not None:
            with log.open("a") as fh:
                fh.write(json.dumps({"unit": event["key"], "wall_s": round(time.perf_counter() - t0, 1),
                                     "cpu_s": round(_cpu_seconds() - cpu0, 1), "load": os.getloadavg()[0],
                                     "roc_auc": event.get("roc_auc"), "run": str(ctx.run_dir)}) + "\n")

    if args.resume:
        run, result = run_experiment_here(None, echo=False, resume=args.resume, ctx_hook=on_event)
        cfg = load_experiment(run.path / "config.json")
    else:
        run, result = run_experiment_here(cfg, echo=False, ctx_hook=on_event)
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    stop.set()
    print(f"run: {run.id} ({run.status})")
    if result is None:
        print(f"experiment {run.status}: {run.error}")
        sys.exit(1)
    cores = min(os.cpu_count() or 1, torch.get_num_threads())
    n_units = result["units_total"]
    mean_load = sum(loads) / len(loads) if loads else os.getloadavg()[0]
    print(f"{len(cfg.arms)} arms x {cfg.repeats} seeds = {n_units} trainings, {args.size} px, {args.model}, "
          f"train budget {cfg.train_budget} images per training")
    print(f"wall time  {wall:7.1f} s  (target <= {TARGET_S} s: {'met' if wall <= TARGET_S else 'NOT met'}); "
          f"load average over the run {mean_load:.1f} (min {min(loads, default=mean_load):.1f}, "
          f"max {max(loads, default=mean_load):.1f})")
    print(f"CPU time   {cpu:7.1f} s  (/ {cores} cores = {cpu / cores:.1f} s on an idle machine at best; "
          f"target {'met' if cpu / cores <= TARGET_S else 'NOT met'} by that measure)")
    # a fresh process, so the curve and worth N come from the code as it is now
    subprocess.run([sys.executable, "-m", "simstudio", "experiment", "--report", run.id], cwd=REPO, check=False)


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (decoding and export workers)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    main()
