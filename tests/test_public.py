"""Public-Space mode: runs belong to the browser session that made them, typed server paths are refused,
quotas refuse with a message naming the limit, ended sessions' runs are removed, paths are redacted."""

import threading
import time

import pytest

from simstudio import public
from simstudio.jobs import JobRunner
from simstudio.runs import list_runs, new_run, open_run


@pytest.fixture
def on(monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_PUBLIC", "1")
    monkeypatch.delenv("SPACE_ID", raising=False)


def test_off_by_default_and_on_for_spaces(monkeypatch):
    monkeypatch.delenv("SIMSTUDIO_PUBLIC", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert not public.is_public()
    run = new_run("count")
    assert "owner" not in run.meta and public.viewer() is None
    with public.acting_as("session-a"):
        assert [r.id for r in list_runs()] == [run.id]  # acting as someone means nothing when off
    monkeypatch.setenv("SPACE_ID", "someone/simstudio")
    assert public.is_public()


def test_a_session_sees_only_its_own_runs(on):
    with public.acting_as(None):
        old = new_run("count")  # made before public mode, or by the CLI: nobody's
    with public.acting_as("session-a"):
        mine = new_run("count")
        assert mine.owner == "session-a"
        assert [r.id for r in list_runs()] == [mine.id]
        assert open_run(mine.id).id == mine.id
    with public.acting_as("session-b"):
        assert list_runs() == []
        for rid in (mine.id, old.id, str(mine.path)):
            with pytest.raises(FileNotFoundError, match="no run"):
                open_run(rid)
    assert public.viewer() == public.NOBODY  # no session (the app being built): sees nothing
    assert list_runs() == []


STARTED: dict[str, threading.Event] = {}  # job configs are saved as JSON, so the events live here


def started_event(key: str) -> dict:
    STARTED[key] = threading.Event()
    return {"started": key}


def blocking_job(config, ctx):
    STARTED[config["started"]].set()
    while not ctx.cancelled:
        time.sleep(0.01)
    ctx.check_cancel()


def test_only_the_owner_can_cancel_and_a_job_runs_as_its_owner(on):
    runner = JobRunner()
    with public.acting_as("session-a"):
        job = runner.submit("count", blocking_job, started_event("cancel"), heavy=False)
        child = runner.submit("count", lambda c, ctx: {"child": new_run("child").id}, {}, heavy=False)
    assert STARTED["cancel"].wait(10) and child.wait(10)
    with public.acting_as("session-a"):
        assert open_run(child.result["child"]).owner == "session-a"  # a run made inside the job
    with public.acting_as("session-b"):
        assert runner.cancel(job.id) is False
    assert not job.wait(0.3) and job.run.status == "running"
    with public.acting_as("session-a"):
        assert runner.cancel(job.id) is True
    assert job.wait(10) and job.run.status == "cancelled"


def test_typed_server_paths_are_refused_but_own_runs_are_taken(on, tmp_path):
    from simstudio.data.roots import check_allowed

    with public.acting_as("session-a"):
        run = new_run("simulate")
        (run.path / "export").mkdir()
        run.write_result({"out": str(run.path / "export")})
        other = new_run("dataset")
        for text in ("/etc", str(tmp_path), "runs", "../x", str(run.path), "data/my-set"):
            with pytest.raises(PermissionError, match="server paths are not accepted"):
                check_allowed(text)
        assert check_allowed(run.id) == (run.path / "export").resolve()
        assert check_allowed(other.id) == other.path.resolve()
    with public.acting_as("session-b"), pytest.raises(PermissionError, match="server paths are not accepted"):
        check_allowed(run.id)


@pytest.mark.parametrize("kind, config, message", [
    ("simulate", {"out": "", "per_class": 1500, "size": 64, "task": "binary"},
     "3000 images is over the limit of 2000 images per export (SIMSTUDIO_PUBLIC_MAX_EXPORT_IMAGES)"),
    ("train", {"epochs": 50, "image_size": 64},
     "epochs = 50 is over the limit of 20 epochs (SIMSTUDIO_PUBLIC_MAX_EPOCHS)"),
    ("experiment", {"model": {"epochs": 30}}, "epochs = 30 is over the limit of 20 epochs"),
    ("train", {"epochs": 2, "image_size": 512},
     "image_size = 512 px is over the limit of 256 image size (px) (SIMSTUDIO_PUBLIC_MAX_IMAGE_SIZE)"),
    ("quiz", {"n_images": 4000, "size": 128}, "4000 images is over the limit of 2000 images per export"),
])
def test_each_config_quota_refuses_naming_its_limit(on, kind, config, message):
    runner = JobRunner()
    with public.acting_as("session-a"):
        with pytest.raises(public.PublicRefusal, match="refused on this public Space") as err:
            runner.submit(kind, lambda c, ctx: None, config, heavy=False)
        assert message in str(err.value)
        assert list_runs() == []  # nothing was made


def test_quotas_come_from_the_environment(on, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_PUBLIC_MAX_EPOCHS", "100")
    with public.acting_as("session-a"):
        public.check_submission("train", {"epochs": 50})
    monkeypatch.setenv("SIMSTUDIO_PUBLIC_MAX_EPOCHS", "many")
    with public.acting_as("session-a"), pytest.raises(ValueError, match="SIMSTUDIO_PUBLIC_MAX_EPOCHS = 'many'"):
        public.check_submission("train", {"epochs": 5})
    monkeypatch.delenv("SIMSTUDIO_PUBLIC", raising=False)
    public.check_submission("train", {"epochs": 10_000})  # off: no quota at all


def test_concurrent_jobs_per_session_are_limited(on):
    runner = JobRunner()
    with public.acting_as("session-a"):
        jobs = [runner.submit("count", blocking_job, started_event(f"c{i}"), heavy=False) for i in range(2)]
        assert all(STARTED[f"c{i}"].wait(10) for i in range(2))
        with pytest.raises(public.PublicRefusal, match=r"limit of concurrent jobs per session is 2 "
                                                       r"\(SIMSTUDIO_PUBLIC_MAX_JOBS\)"):
            runner.submit("count", blocking_job, started_event("c3"), heavy=False)
    with public.acting_as("session-b"):  # another session is not held up by a's jobs
        other = runner.submit("count", lambda c, ctx: None, {}, heavy=False)
        assert other.wait(10)
    with public.acting_as("session-a"):
        for j in jobs:
            runner.cancel(j.id)
    assert all(j.wait(10) for j in jobs)


def test_disk_per_session_is_limited(on, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_PUBLIC_MAX_DISK_MB", "0.5")
    with public.acting_as("session-a"):
        run = new_run("simulate")
        (run.path / "big.bin").write_bytes(b"\0" * 600_000)
        with pytest.raises(public.PublicRefusal, match=r"use 1 MB, the limit of disk per session is 0.5 MB "
                                                       r"\(SIMSTUDIO_PUBLIC_MAX_DISK_MB\)"):
            public.check_submission("count", {})
    with public.acting_as("session-b"):
        public.check_submission("count", {})


def test_runs_of_ended_sessions_are_removed_after_the_ttl(on, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_PUBLIC_SESSION_TTL_H", "1")
    runner = JobRunner()
    now = time.time()
    with public.acting_as("session-old"):
        gone = new_run("count")
        gone.write_json("meta.json", {**gone.meta, "created": now - 6 * 3600})
        live = runner.submit("count", blocking_job, started_event("ttl"), heavy=False)
        assert STARTED["ttl"].wait(10)
        live.run.write_json("meta.json", {**live.run.meta, "created": now - 6 * 3600})
    with public.acting_as("session-new"):
        kept = new_run("count")
    with public.acting_as(None):
        nobodys = new_run("count")
    public.touch("session-old", now=now - 5 * 3600)
    public.touch("session-new", now=now)
    removed = public.sweep_ended_sessions(now=now + 10, runner=runner)
    assert gone.id in removed and not gone.path.exists()
    assert live.run.path.exists() and kept.path.exists() and nobodys.path.exists()
    # an hour after the new session was last seen, its runs go too
    assert kept.id in public.sweep_ended_sessions(now=now + 3700, runner=runner)
    with public.acting_as("session-old"):
        runner.cancel(live.id)
    assert live.wait(10)


def test_redact_takes_server_paths_out():
    from simstudio.runs import runs_root

    store = runs_root().resolve()
    text = (f"Exported to `{store}/simulate-1-abc/export` at 120 images/s (1/2 done); see /etc/passwd "
            "and https://huggingface.co/spaces/x")
    out = public.redact_text(text)
    assert str(store) not in out and "/etc" not in out
    assert "`simulate-1-abc/export`" in out and "…/passwd" in out
    assert "120 images/s (1/2 done)" in out and "https://huggingface.co/spaces/x" in out
    assert public.redact({"a": [f"{store}/x", 3]}) == {"a": ["x", 3]}


def test_shipped_presets_and_models_stay_usable(on, tmp_path, monkeypatch):
    from simstudio.ui import gap_tab

    assert public.check_typed_path("fitted-derm-real") == public.REPO / "assets" / "presets" / "fitted-derm-real.json"
    monkeypatch.setenv("SIMSTUDIO_MODELS", str(tmp_path))
    (tmp_path / "sim-demo.pt").write_bytes(b"")
    (tmp_path / "sim-demo.json").write_text("{}")
    with public.acting_as("session-a"):
        assert public.check_typed_path("sim-demo") is None  # a shipped model's name goes through as it is
        assert gap_tab._ref("sim-demo") == "sim-demo"
        assert gap_tab._ref("default-binary").endswith("assets/presets/default-binary.json")
        with pytest.raises(public.PublicRefusal):
            gap_tab._ref("sim-demo-not-shipped")
