import os
import subprocess
import sys


def _cli(*args, home):
    env = {**os.environ, "SIMSTUDIO_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "simstudio", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_help_lists_subcommands(run_store):
    out = _cli("--help", home=run_store)
    assert out.returncode == 0
    assert "serve" in out.stdout and "runs" in out.stdout


def test_runs_lists_and_shows_a_run(run_store):
    from simstudio.jobs import run_in_foreground

    run, _ = run_in_foreground("count", lambda c, ctx: {"n": 1}, {}, echo=False)
    listing = _cli("runs", home=run_store)
    assert run.id in listing.stdout and "finished" in listing.stdout
    shown = _cli("runs", run.id, home=run_store)
    assert '"status": "finished"' in shown.stdout


def test_unknown_run_exits_2_with_a_message(run_store):
    out = _cli("runs", "nope", home=run_store)
    assert out.returncode == 2
    assert out.stderr.startswith("error: no run 'nope'")
