"""Simulator speed and memory: dataset export and the Simulate tab's live preview.

    .venv/bin/python benchmarks/bench_simulate.py [--per-class 500,2000] [--size 128] [--workers 2]

Targets (issues 2 and 13): export >= 1,000 images/s at 128 px PNG on 2 cores; resident memory flat (< 500 MB)
whatever N; a 4x4 preview at 128 px in < 100 ms. Prints one line per figure and the machine's load
average, since other processes on a shared box slow every number down. Peak memory is the high-water
mark (VmHWM) of this process (whose threads render the export) and of every process it starts, sampled
from /proc while the export runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", default="500,2000",
                        help="comma-separated export sizes per class (several show whether memory is flat)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="export worker threads (0 = every core)")
    parser.add_argument("--preview-repeats", type=int, default=20)
    parser.add_argument("--dir", default=None,
                        help="folder the timed files are written in (default: the run store, SIMSTUDIO_HOME, where "
                             "the app's exports go, not /tmp: creating a file on this virtual machine cost "
                             "0.02-0.9 ms of system CPU with the folder and the file system's state)")
    args = parser.parse_args()

    from simstudio.sim.export import ExportConfig, export_dataset, resolve_workers

    workers = resolve_workers(args.workers)
    if args.dir is None:
        from simstudio.runs import runs_root

        args.dir = str(runs_root())
    print(f"cores: {resolve_workers(0)}, workers: {workers}, load average: {os.getloadavg()[0]:.1f}, files written "
          f"in {args.dir}")
    _first_call()
    _stages(args.size, workers, args.dir)
    if workers > 1:
        _contention(args.size, workers)
    for n in (int(x) for x in args.per_class.split(",")):
        tmp = _kept_folder("bench-sim-", args.dir)
        with _PeakMemory() as mem:
            result = export_dataset(ExportConfig(out=str(Path(tmp) / "out"), per_class=n, size=args.size,
                                                 workers=workers))
        files = sum(p.stat().st_size for p in (Path(tmp) / "out").rglob("*.png"))
        cpu_ms = mem.cpu_s / result["images"] * 1000
        print(f"export {result['images']} images at {args.size} px PNG: "
              f"{result['images_per_s']:.0f} images/s ({result['seconds']:.1f} s, "
              f"{files / result['images'] / 1024:.1f} KB/image); CPU {cpu_ms:.1f} ms/image over all "
              f"processes (system {mem.sys_s / result['images'] * 1000:.1f}) = {workers * 1000 / cpu_ms:.0f} "
              f"images/s on {workers} idle cores; peak RSS main "
              f"{mem.main_mb:.0f} MB, largest worker {mem.worker_mb:.0f} MB, sum of all peaks "
              f"{mem.total_mb:.0f} MB (target >= 1000 images/s, < 500 MB)")
    if workers > 1:
        _export_split(args.size, workers, args.dir, min(int(x) for x in args.per_class.split(",")))
    _preview(args.preview_repeats)


# Timed files are deleted only when the benchmark ends: on this VM's ext4 (no journal) creating a file
# skips every inode of its group freed in the last 1-5 minutes, reading each one's table block, so an
# export right after deleting thousands of files paid 0.5-1 ms of system CPU per file that an export into
# a quiet file system does not (perf: ext4 recently_deleted / find_get_block_common).
_KEPT: list[tempfile.TemporaryDirectory] = []


def _kept_folder(prefix: str, parent: str) -> str:
    folder = tempfile.TemporaryDirectory(prefix=prefix, dir=parent)
    _KEPT.append(folder)
    return folder.name


def _first_call() -> None:
    """What a fresh process pays before its first image: importing the renderer, loading its compiled
    numba kernels from the cache and mapping the texture bank's disk copy (compiling and building both on a
    fresh install)."""
    import subprocess

    code = ("import time; t = time.perf_counter(); from simstudio.sim.render import warm_up; "
            "i = time.perf_counter() - t; w = warm_up(); print(f'{i:.2f} {w:.2f}')")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    imp, warm = (float(x) for x in out.stdout.split())
    print(f"first call in a fresh process: import {imp:.2f} s + warm_up() {warm:.2f} s (kernels from the numba "
          f"cache, texture bank from its disk copy); the app runs warm_up on a background thread at start")


def _stages(size: int, workers: int, folder: str, n: int = 200, repeats: int = 3) -> None:
    """CPU per image of each stage of an export in this one process (best of `repeats` passes, so a busy
    machine disturbs it less than the wall-clock figures): what `workers` idle cores could reach."""
    import csv
    import io

    import numpy as np

    from simstudio.sim.export import _write_png, image_seed, manifest_row
    from simstudio.sim.png import encode_png
    from simstudio.sim.presets import default_preset, sample_for_class
    from simstudio.sim.render import render_lesion

    study = default_preset()
    seeds = [(c, image_seed(0, c, i)) for i in range(n // 2) for c in (0, 1)]
    classes = study.output_classes
    drawn = [(sample_for_class(study, classes[c], np.random.default_rng(s)), s) for c, s in seeds]
    images = [render_lesion(p, size, s)[0] for (p, _), s in drawn[:20]]

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            t = time.process_time()
            fn()
            times.append((time.process_time() - t) / n * 1000)
        return min(times)

    sample_ms = best(lambda: [sample_for_class(study, classes[c], np.random.default_rng(s)) for c, s in seeds])
    render_ms = best(lambda: [render_lesion(p, size, s) for (p, _), s in drawn])
    png_ms = best(lambda: [encode_png(images[i % 20]) for i in range(n)])
    # The row as the export writes it: built and formatted as CSV (the formatting is most of its cost).
    writer = csv.writer(io.StringIO(), lineterminator="\n")
    row_ms = best(lambda: [writer.writerow(manifest_row("f.png", "c", k, s, p).values()) for (p, k), s in drawn])
    # Writing files (user + system CPU, the encode taken off): on a virtual machine creating a file can cost
    # 20x more while the guest kernel's caches grow (0.05-1 ms seen here), so the first pass is shown too.
    writes = []
    tmp = _kept_folder("bench-write-", folder)
    for r in range(repeats):
        t = time.process_time()
        for i in range(n):
            _write_png(Path(tmp) / f"{r}_{i}.png", images[i % 20])
        writes.append(max((time.process_time() - t) / n * 1000 - png_ms, 0.0))
    write_ms = min(writes)
    total = sample_ms + render_ms + png_ms + row_ms + write_ms
    print(f"one process, {size} px, CPU per image: draw {sample_ms:.2f} ms + render {render_ms:.2f} ms + PNG "
          f"{png_ms:.2f} ms + manifest row {row_ms:.2f} ms + file write {write_ms:.2f} ms (first pass "
          f"{writes[0]:.2f} ms) = {total:.2f} ms -> {workers * 1000 / total:.0f} images/s on {workers} idle cores "
          f"(the parent process not included)")
    _render_split(size, [(p, s) for (p, _), s in drawn])


# The steps render_lesion runs, looked up by name in simstudio.sim.render at call time, so they can be wrapped.
_RENDER_STEPS = ("lesion_frame", "lesion_pass", "structures_pass", "scope_pass", "composite", "_camera")


def _render_split(size: int, drawn: list, repeats: int = 3) -> None:
    """CPU per image of each step of render_lesion (best of `repeats` passes), timed by wrapping the
    module's kernels rather than copying its body, so the split follows whatever render_lesion calls;
    "glue" is the rest (validation, packing, buffers, masks)."""
    from simstudio.sim import render

    steps = [name for name in _RENDER_STEPS if hasattr(render, name)]
    originals = {name: getattr(render, name) for name in steps}
    best = dict.fromkeys([*steps, "glue"], float("inf"))

    def timed(name, fn):
        def call(*args, **kwargs):
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.process_time() - t
        return call

    try:
        for name in steps:
            setattr(render, name, timed(name, originals[name]))
        for _ in range(repeats):
            spent = dict.fromkeys(steps, 0.0)
            t = time.process_time()
            for params, seed in drawn:
                render.render_lesion(params, size, seed)
            spent["glue"] = time.process_time() - t - sum(spent.values())
            for name, seconds in spent.items():
                best[name] = min(best[name], seconds / len(drawn) * 1000)
    finally:
        for name, fn in originals.items():
            setattr(render, name, fn)
    print("render by step, CPU per image: " + ", ".join(f"{name.strip('_')} {ms:.3f} ms" for name, ms in best.items()))


def _render_loop(size: int, n: int = 400) -> float:
    """CPU ms per image of drawing, rendering and encoding `n` images of the default preset here."""
    import numpy as np

    from simstudio.sim.export import image_seed
    from simstudio.sim.png import encode_png
    from simstudio.sim.presets import default_preset, sample_for_class
    from simstudio.sim.render import render_lesion

    study = default_preset()
    classes = study.output_classes
    start = time.process_time()
    for i in range(n):
        seed = image_seed(7, i % 2, i)
        params, _ = sample_for_class(study, classes[i % 2], np.random.default_rng(seed))
        encode_png(render_lesion(params, size, seed)[0])
    return (time.process_time() - start) / n * 1000


def _contention(size: int, workers: int) -> None:
    """The same work alone and in `workers` processes at once. On a shared virtual machine busy cores
    slow each other down by a factor that changes from run to run (1.0-1.6x seen here), which is why
    an export can run well below what one idle process projects."""
    import multiprocessing as mp

    alone = min(_render_loop(size) for _ in range(2))
    with mp.get_context("spawn").Pool(workers) as pool:
        pool.map(_render_loop, [32] * workers)  # imports and texture bank, so the timed round is warm
        together = pool.map(_render_loop, [size] * workers)
    busy = sum(together) / len(together)
    print(f"draw + render + PNG, CPU per image: {alone:.2f} ms alone, {busy:.2f} ms in each of {workers} "
          f"processes at once ({busy / alone:.2f}x slower) -> {workers * 1000 / busy:.0f} images/s from "
          f"{workers} processes before file writes")


# The calls of an export worker timed by `_export_split`, looked up by name in simstudio.sim.export at call
# time (as `_render_split` does for render_lesion's steps). `_write_png` includes `encode_png`.
_EXPORT_STEPS = ("image_seed", "png_complete", "sample_for_class", "render_lesion", "encode_png", "_write_png",
                 "manifest_row")


def _export_split(size: int, workers: int, folder: str, per_class: int) -> None:
    """Where the time of an export's worker threads goes, measured inside one export (a run of its own after
    the timed ones, its calls wrapped): CPU per image by step, and each worker's wall time split by the
    kernel's /proc/thread-self/schedstat into on a core, runnable but waiting for one (other processes, or
    more threads than cores) and asleep (waiting for the GIL, or on a file). The stage sum above and the
    export line are measured a minute apart on a shared VM, where the same work costs 1.0-1.6x more CPU
    while neighbours run: compare the export with this line, taken in one run, not with that sum."""
    from simstudio.sim import export

    steps = [name for name in _EXPORT_STEPS if hasattr(export, name)]
    originals = {name: getattr(export, name) for name in steps}
    task_call = export._TaskRenderer.__call__
    lock = threading.Lock()
    spent = dict.fromkeys([*steps, "task"], 0.0)  # thread CPU seconds, summed over the workers
    sched = [0.0, 0.0, 0.0]  # wall, on a core, waiting for a core: seconds, summed over tasks

    def timed(name, fn):
        def call(*args, **kwargs):
            t = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    spent[name] += time.thread_time() - t
        return call

    def timed_task(self, task):
        t, cpu, (run, wait) = time.perf_counter(), time.thread_time(), _schedstat()
        try:
            return task_call(self, task)
        finally:
            run2, wait2 = _schedstat()
            with lock:
                spent["task"] += time.thread_time() - cpu
                sched[0] += time.perf_counter() - t
                sched[1] += run2 - run
                sched[2] += wait2 - wait

    tmp = _kept_folder("bench-split-", folder)
    try:
        for name in steps:
            setattr(export, name, timed(name, originals[name]))
        export._TaskRenderer.__call__ = timed_task
        result = export.export_dataset(export.ExportConfig(out=str(Path(tmp) / "out"), per_class=per_class,
                                                           size=size, workers=workers))
    finally:
        for name, fn in originals.items():
            setattr(export, name, fn)
        export._TaskRenderer.__call__ = task_call
    n = result["images"]
    ms = {name: seconds / n * 1000 for name, seconds in spent.items()}
    if "_write_png" in ms and "encode_png" in ms:
        ms["_write_png"] -= ms["encode_png"]  # creating, writing and renaming the file alone
    task_ms = ms.pop("task")
    other = task_ms - sum(ms.values())
    wall, run, wait = (seconds / n * 1000 for seconds in sched)
    labels = {"sample_for_class": "draw", "render_lesion": "render", "encode_png": "PNG", "_write_png": "file write",
              "manifest_row": "manifest row"}
    print(f"inside one export of {n} images on {workers} threads ({result['images_per_s']:.0f} images/s, load "
          f"average {os.getloadavg()[0]:.1f}), worker CPU per image: "
          + " + ".join(f"{labels.get(k, k)} {v:.2f} ms" for k, v in ms.items())
          + f" + other {other:.2f} ms (CSV, loop) = {task_ms:.2f} ms; a worker's wall time per image {wall:.2f} ms "
          f"= on a core {run:.2f} + waiting for a core {wait:.2f} + asleep (GIL, files) {wall - run - wait:.2f}")


def _schedstat() -> tuple[float, float]:
    """(seconds on a core, seconds runnable but waiting for one) of the calling thread, from Linux's schedstat."""
    try:
        with open("/proc/thread-self/schedstat") as fh:
            run, wait = fh.read().split()[:2]
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(run) / 1e9, int(wait) / 1e9


def _preview(repeats: int) -> None:
    import numpy as np

    from simstudio.sim.params import LesionParams
    from simstudio.sim.presets import sample_params
    from simstudio.sim.render import render_lesion
    from simstudio.ui import simulate_tab as tab

    def renders_only(values):
        params = tab.params_from_values(values)
        return tab.compose_grid([render_lesion(params, tab.CELL, k)[0] for k in range(16)])

    for label, params in (("default nevus controls", LesionParams()),
                          ("a melanoma draw", sample_params("melanoma", np.random.default_rng(0)))):
        values = tab.control_values(params)
        for what, fn in (("16 renders + grid", lambda v=values: renders_only(v)),
                         ("whole handler (+ measured ABCD)",
                          lambda v=values: tab.preview(tab.MODES[0], "nevus", 0, "none", *v))):
            fn()  # warm caches (coordinate grids, imports)
            times, cpu = [], []
            for _ in range(repeats):
                t, c = time.perf_counter(), time.process_time()
                fn()
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            print(f"preview 4x4 at {tab.CELL} px, {label}, {what}: median {statistics.median(times):.0f} ms "
                  f"(CPU {statistics.median(cpu):.0f} ms), max {max(times):.0f} ms over {repeats} "
                  f"(target < 100 ms)")


class _PeakMemory:
    """Peak resident memory (VmHWM) of this process and of all its descendants while the block runs."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.peaks: dict[int, int] = {}  # pid -> kB
        self.cpu_ticks: dict[int, int] = {}  # pid -> user + system clock ticks, last seen
        self.sys_ticks: dict[int, int] = {}  # pid -> system clock ticks, last seen
        self._start_ticks = self._start_sys = 0
        self._stop = threading.Event()

    def __enter__(self):
        self._start_ticks = _cpu_ticks(os.getpid())
        self._start_sys = _cpu_ticks(os.getpid(), system_only=True)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample_once()

    @property
    def main_mb(self) -> float:
        return self.peaks.get(os.getpid(), 0) / 1024

    @property
    def worker_mb(self) -> float:
        return max((v for pid, v in self.peaks.items() if pid != os.getpid()), default=0) / 1024

    @property
    def cpu_s(self) -> float:
        """CPU seconds of this process and its descendants during the block (a worker's last sample
        before it exits is missed by at most one interval)."""
        ticks = sum(self.cpu_ticks.values()) - self._start_ticks
        return ticks / os.sysconf("SC_CLK_TCK")

    @property
    def sys_s(self) -> float:
        """The system (kernel) share of `cpu_s`: mostly creating and writing files."""
        return (sum(self.sys_ticks.values()) - self._start_sys) / os.sysconf("SC_CLK_TCK")

    @property
    def total_mb(self) -> float:
        return sum(self.peaks.values()) / 1024

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample_once()

    def _sample_once(self) -> None:
        for pid in [os.getpid(), *_descendants(os.getpid())]:
            kb = _vm_hwm_kb(pid)
            if kb:
                self.peaks[pid] = max(self.peaks.get(pid, 0), kb)
            ticks = _cpu_ticks(pid)
            if ticks:
                self.cpu_ticks[pid] = max(self.cpu_ticks.get(pid, 0), ticks)
                self.sys_ticks[pid] = max(self.sys_ticks.get(pid, 0), _cpu_ticks(pid, system_only=True))


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, frontier = [], [root]
    while frontier:
        kids = [pid for pid, ppid in parents.items() if ppid in frontier]
        out += kids
        frontier = kids
    return out


def _cpu_ticks(pid: int, system_only: bool = False) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[12]) if system_only else int(fields[11]) + int(fields[12])  # utime + stime


def _vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    try:
        main()
    finally:
        for kept in _KEPT:
            kept.cleanup()
