import threading
import time

import pytest

from simstudio.jobs import Cancelled, JobContext, JobRunner, run_in_foreground


def count_to(config, ctx):
    for i in range(config["n"]):
        ctx.check_cancel()
        ctx.progress(i + 1, config["n"], message=f"step {i + 1}")
    return {"counted": config["n"]}


def gated(gate):
    """A job that holds the heavy queue until `gate` opens."""

    def fn(config, ctx):
        gate.wait(5)
        return count_to(config, ctx)

    return fn


def test_job_runs_in_background_and_records_result():
    runner = JobRunner()
    job = runner.submit("count", count_to, {"n": 5})
    assert job.wait(10)
    assert job.run.status == "finished"
    assert job.run.result == {"counted": 5}
    progress = job.run.events("progress")
    assert progress[-1]["done"] == 5 and progress[-1]["total"] == 5
    assert [e["status"] for e in job.run.events("status")] == ["running", "finished"]


def test_failure_is_recorded_not_lost():
    def boom(config, ctx):
        raise RuntimeError("the disk is full")

    job = JobRunner().submit("boom", boom, {})
    assert job.wait(10)
    assert job.run.status == "failed"
    assert "the disk is full" in job.run.error
    assert job.run.events("status")[-1]["message"] == "RuntimeError: the disk is full"


def test_heavy_jobs_queue_one_at_a_time_and_queued_job_can_be_cancelled():
    runner = JobRunner()
    gate = threading.Event()
    first = runner.submit("count", gated(gate), {"n": 3})
    second = runner.submit("count", count_to, {"n": 3})
    third = runner.submit("count", count_to, {"n": 3})
    assert runner.queue_position(second.id) is not None
    assert runner.cancel(third.id)
    assert third.run.status == "cancelled"
    assert second.run.status == "queued"  # still waiting for the first
    gate.set()
    assert first.wait(10) and second.wait(10)
    assert third.result is None and second.run.status == "finished"
    assert runner.active() == []


def test_cancel_running_job():
    runner = JobRunner()
    started = threading.Event()

    def forever(config, ctx):
        started.set()
        while True:
            ctx.check_cancel()
            ctx.progress(1, 2)

    job = runner.submit("loop", forever, {})
    assert started.wait(5)
    assert runner.cancel(job.id)
    assert job.wait(5)
    assert job.run.status == "cancelled"


def test_light_job_does_not_wait_for_heavy_queue():
    runner = JobRunner()
    gate = threading.Event()
    heavy = runner.submit("count", gated(gate), {"n": 3})
    light = runner.submit("count", count_to, {"n": 2}, heavy=False)
    assert light.wait(5) and light.run.status == "finished"
    gate.set()
    assert heavy.wait(5)


def test_foreground_run_matches_background_events(capsys):
    run, result = run_in_foreground("count", count_to, {"n": 4})
    assert result == {"counted": 4} and run.status == "finished"
    assert "4/4" in capsys.readouterr().err


def test_local_context_check_cancel():
    ctx = JobContext.local()
    ctx.cancel_event.set()
    try:
        ctx.check_cancel()
    except Cancelled:
        pass
    else:
        raise AssertionError("check_cancel should raise once cancelled")


def test_eta_is_measured_within_each_phase(monkeypatch):
    """A fit searches (slow) and then confirms (another total): the confirmation's ETA follows its own rate."""
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    ctx = JobContext(progress_interval_s=0.0)
    for done in range(1, 5):  # 4 trials of 100 s
        clock[0] += 100
        last = ctx.progress(done, 4, "trials")
    assert last["eta_s"] == 0
    clock[0] += 1
    ctx.progress(0, 10, "confirming")
    clock[0] += 10
    event = ctx.progress(1, 10, "confirming")  # 10 s an item: 90 s left, not the search's pace
    assert event["eta_s"] == pytest.approx(90) and event["elapsed_s"] == pytest.approx(411)
    clock[0] += 10
    assert ctx.progress(2, 10, "confirming")["eta_s"] == pytest.approx(80)
