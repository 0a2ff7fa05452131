import json

from simstudio.jobs import get_runner, run_in_foreground
from simstudio.ui import jobs_tab


def test_table_lists_runs_from_the_store():
    run, _ = run_in_foreground("count", lambda c, ctx: {"n": 3}, {}, echo=False)
    rows = jobs_tab.jobs_table()
    assert [r[0] for r in rows] == [run.id]
    assert rows[0][3] == "finished"


def test_details_show_config_result_and_a_clear_message_for_unknown_ids():
    run, _ = run_in_foreground("count", lambda c, ctx: {"n": 3}, {"a": 1}, echo=False)
    details = json.loads(jobs_tab.run_details(run.id))
    assert details["config"] == {"a": 1} and details["result"] == {"n": 3}
    assert "no run" in json.loads(jobs_tab.run_details("missing-run"))["error"]


def test_cancel_messages():
    assert "Pick a run" in jobs_tab.cancel_job("")
    assert "nothing to cancel" in jobs_tab.cancel_job("not-a-run")
    assert jobs_tab.queue_text() == "No job is running." or get_runner().active()
