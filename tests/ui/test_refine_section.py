"""Refine section handlers, called as the page calls them: bad input is a one-line message (never a
traceback), a folder outside the allowed roots is refused, FDA applies in the background and the page
shows the before/after strip and the C2ST rows, also when the run finishes while the page polls it; the
experiment preset loads."""

import random
import threading

import pytest

from simstudio.jobs import get_runner
from simstudio.ui import refine_section


@pytest.fixture
def export(tmp_path, monkeypatch):
    from simstudio.sim.export import ExportConfig, export_dataset

    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    out = tmp_path / "raw"
    export_dataset(ExportConfig(out=str(out), per_class=6, size=32, seed=0, workers=1))
    return out


def wait(job_id, timeout=120):
    job = get_runner().get(job_id)
    assert job.wait(timeout)


def test_bad_input_is_a_message(export, tmp_path):
    job, msg, _ = refine_section.start_training("", "x", "cpu-32", 1, 1, 0.5, 0, "pixels")
    assert job == "" and "Cannot start" in msg and "export folder" in msg
    job, msg, _ = refine_section.start_apply(str(export), "", "SimGAN refiner (trained)", None, 0.01, "", "pixels")
    assert job == "" and "train a refiner first" in msg
    job, msg, _ = refine_section.start_apply("/etc", str(export), "Fourier domain adaptation (no training)",
                                             None, 0.01, "", "pixels")
    assert job == "" and "outside the folders" in msg


def test_fda_applies_and_the_page_shows_strip_and_c2st(export, tmp_path):
    job, msg, _ = refine_section.start_apply(str(export), str(export), "Fourier domain adaptation (no training)",
                                             None, 0.05, str(tmp_path / "fda"), "pixels")
    assert job, msg
    wait(job)
    status, _fig, strip, rows = refine_section.show_refine_run(job)
    assert "finished" in status and "wrote 12 images" in status and "C2ST AUC" in status
    assert strip is not None and strip.shape[2] == 3
    assert [r[0] for r in rows] == ["raw simulated", "refined"]
    assert (tmp_path / "fda" / "manifest.csv").is_file()


def test_the_poll_that_stops_the_timer_shows_the_finished_run_with_its_c2st_rows():
    """A refine run that finishes while the timer polls it: the poll that stops the timer is the last the page
    gets, so it must show the run finished with its C2ST rows (a poll that read the result before the run
    wrote it and the status after had shown "C2ST AUC" in the status line above an empty table, for good)."""
    from simstudio.jobs import JobContext, execute_job
    from simstudio.runs import new_run

    refiner = new_run("refiner", {})
    for step in range(200):  # a losses figure to draw on every poll, as after a real training
        refiner.log_event({"type": "metric", "step": step, "loss_d": 0.7, "loss_g": 1.3})
    refiner.set_status("finished")
    result = {"images": 16, "out": "refined", "images_per_cpu_s": 100.0, "refiner_run": refiner.id,
              "c2st": {"before": {"auc": 0.91, "ci": [0.82, 0.99]}, "after": {"auc": 0.63, "ci": [0.51, 0.75]},
                       "features": "pixels", "n_real": 8, "real_part": ""}}
    rng = random.Random(0)
    for _ in range(10):
        run = new_run("refine", {"refiner": refiner.id})
        finish = threading.Event()

        def refine(config, ctx, finish=finish):
            finish.wait(30)
            return result

        job = threading.Thread(target=execute_job, args=(run, refine, None, JobContext(run)))
        job.start()
        finish_after = rng.randint(1, 3)  # the run finishes during one of the first polls
        for polls in range(1, 1000):
            status, _fig, _strip, rows, _refiners, timer = refine_section.poll_refine(run.id)
            if polls == finish_after:
                finish.set()
            if not timer.active:
                break
        job.join()
        assert "finished" in status and "C2ST AUC 0.910 → 0.630" in status
        assert [r[0] for r in rows] == ["raw simulated", "refined"]


def test_refined_vs_raw_preset_has_the_arms_and_contrasts():
    from simstudio.experiments.config import load_preset

    cfg = load_preset("refined_vs_raw")
    names = [a.name for a in cfg.arms]
    assert cfg.repeats >= 3 and cfg.split == "dataset"
    assert {"real only", "simulated only, raw", "simulated only, FDA", "simulated only, refined"} <= set(names)
    pre = [a for a in cfg.arms if a.composition == "pretrain"]
    assert len(pre) == 3 and all(a.train_fraction == 0.1 for a in pre)
    assert ["simulated only, refined", "simulated only, raw"] in cfg.contrasts
    assert ["simulated only, FDA", "simulated only, raw"] in cfg.contrasts
