"""The blind "real or simulated?" test: seeded balanced sessions, answers that survive a restart, and
statistics that match a direct computation."""

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter

import cv2
import numpy as np
import pytest
from scipy.stats import binomtest

from simstudio.cli import main
from simstudio.eval import reader_study as rs
from simstudio.jobs import run_in_foreground


def make_set(root, per_class, seed, classes=("benign", "malignant"), side=40):
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(root / c / f"{c}_{i:03d}.png"), rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
    return root


@pytest.fixture
def sets(tmp_path):
    return (make_set(tmp_path / "real", 8, 0), make_set(tmp_path / "simA", 8, 1), make_set(tmp_path / "simB", 8, 2))


def make_quiz(sets, seed=0, n=12, **kw):
    real, a, b = sets
    config = rs.QuizConfig(real=str(real), synthetic=[f"A={a}", f"B={b}"], n_images=n, size=32, seed=seed, **kw)
    run, result = run_in_foreground(rs.RUN_KIND, rs.create_quiz, config, echo=False)
    assert run.status == "finished", run.error
    return run, result


def sequence(run):
    return [(it["source"], it["class"], it["origin"]) for it in rs.quiz_items(run)]


def test_order_is_fixed_by_the_seed_and_balanced(sets):
    r1, res = make_quiz(sets, seed=3)
    r2, _ = make_quiz(sets, seed=3)
    r3, _ = make_quiz(sets, seed=4)
    assert sequence(r1) == sequence(r2)
    assert sequence(r1) != sequence(r3)
    # the stored pixels are the same too
    assert all(np.array_equal(rs.item_image(r1, i), rs.item_image(r2, i)) for i in range(12))
    items = rs.quiz_items(r1)
    truth = Counter(it["truth"] for it in items)
    assert truth == {"real": 6, "simulated": 6}
    assert res["per_source"] == {"real": 6, "A": 3, "B": 3}
    real_classes = Counter(it["class"] for it in items if it["source"] == "real")
    assert real_classes == {"benign": 3, "malignant": 3}
    assert len({(it["source"], it["origin"]) for it in items}) == 12  # no image twice
    # the order mixes the sources (not all real first)
    assert [it["truth"] for it in items] != sorted(it["truth"] for it in items)


def test_stored_images_are_the_source_pixels_and_the_display_size_is_honoured(sets):
    run, _ = make_quiz(sets)
    item = rs.quiz_items(run)[0]
    src_root = {"real": sets[0], "A": sets[1], "B": sets[2]}[item["source"]]
    src = cv2.cvtColor(cv2.imread(str(src_root / item["origin"])), cv2.COLOR_BGR2RGB)
    expected = cv2.resize(src, (32, 32), interpolation=cv2.INTER_AREA)
    assert np.abs(rs.item_image(run, 0).astype(int) - expected.astype(int)).max() <= 1
    assert rs.item_image(run, 0, display=320).shape == (320, 320, 3)
    with pytest.raises(ValueError, match="display size"):
        rs.item_image(run, 0, display=5000)


def test_answers_survive_a_restart(sets):
    run, _ = make_quiz(sets)
    first = [rs.next_item(run)]
    rs.record_answer(run, first[0], "real", "benign", 5)
    first.append(rs.next_item(run))
    rs.record_answer(run, first[1], "simulated", "", None)
    first.append(rs.next_item(run))
    rs.record_answer(run, first[2], "real", "malignant", 2)
    code = ("import json; from simstudio.eval import reader_study as rs; "
            f"print(json.dumps([rs.next_item({run.id!r}), rs.answers({run.id!r})[{first[1]}]['answer'], "
            f"len(rs.answers({run.id!r}))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ}, cwd=os.getcwd())
    nxt, second, n = json.loads(out.stdout)
    assert nxt == 3 and first == [0, 1, 2]
    assert second == "simulated" and n == 3


def test_a_line_cut_short_by_a_crash_loses_only_that_answer(sets):
    run, _ = make_quiz(sets)
    rs.record_answer(run, 0, "real")
    with open(run.path / "events.jsonl", "a") as fh:
        fh.write('{"type": "answer", "item": 1, "ans')  # the process died mid-write
    assert set(rs.answers(run)) == {0}
    assert rs.next_item(run) == 1


def test_bad_answers_are_refused(sets):
    run, _ = make_quiz(sets)
    with pytest.raises(ValueError, match="answer = 'maybe'"):
        rs.record_answer(run, 0, "maybe")
    with pytest.raises(ValueError, match="item = 99"):
        rs.record_answer(run, 99, "real")
    with pytest.raises(ValueError, match="confidence = 9"):
        rs.record_answer(run, 0, "real", confidence=9)
    with pytest.raises(ValueError, match="class = 'nevus'"):
        rs.record_answer(run, 0, "real", "nevus")
    assert rs.answers(run) == {}


@pytest.mark.parametrize("kw, message", [
    (dict(n_images=7), "even whole number"),
    (dict(n_images=200), "has 16 images; the test needs 100"),
    (dict(size=8), "size = 8"),
])
def test_bad_sessions_are_refused(sets, kw, message):
    real, a, _ = sets
    config = rs.QuizConfig(real=str(real), synthetic=[str(a)], **{"size": 32, **kw})
    with pytest.raises(ValueError, match=message):
        config.validate()
        rs.create_quiz(config, _ctx_in_run(config))


def _ctx_in_run(config):
    from simstudio.jobs import JobContext
    from simstudio.runs import new_run

    return JobContext(new_run("quiz", config))


def test_report_matches_a_direct_binomial_computation(sets):
    run, _ = make_quiz(sets, n=12)
    items = rs.quiz_items(run)
    rng = np.random.default_rng(7)
    given = {}
    for it in items[:10]:
        ans = "real" if rng.random() < 0.5 else "simulated"
        cls = "benign" if rng.random() < 0.5 else "malignant"
        conf = int(rng.integers(1, 6))
        rs.record_answer(run, it["item"], ans, cls, conf)
        given[it["item"]] = (ans, cls, conf)
    report = rs.quiz_report(run)

    def direct(sel):
        k = sum(given[it["item"]][0] == it["truth"] for it in sel)
        t = binomtest(k, len(sel), 0.5)
        ci = t.proportion_ci(0.95, method="exact")
        return k, len(sel), t.pvalue, ci.low, ci.high

    answered = [it for it in items if it["item"] in given]
    for got, sel in [(report["overall"], answered)] + [
            (report["by_source"][s], [it for it in answered if it["source"] == s]) for s in ("real", "A", "B")] + [
            (report["by_class"][c], [it for it in answered if it["class"] == c]) for c in ("benign", "malignant")]:
        k, n, p, lo, hi = direct(sel)
        assert (got["correct"], got["n"]) == (k, n)
        assert got["accuracy"] == pytest.approx(k / n)
        assert got["p_vs_chance"] == pytest.approx(p)
        assert got["ci"] == pytest.approx([lo, hi])
    # benign/malignant accuracy on real vs synthetic images
    for truth in ("real", "simulated"):
        sel = [it for it in answered if it["truth"] == truth]
        k = sum(given[it["item"]][1] == it["class"] for it in sel)
        assert (report["class_accuracy"][truth]["correct"], report["class_accuracy"][truth]["n"]) == (k, len(sel))
    assert report["n_answered"] == 10 and not report["finished"]
    assert report["ci_method"].startswith("Clopper-Pearson")
    # most convincing synthetic: the synthetic images called real with the highest confidence come first
    top = report["most_convincing_synthetic"][0]
    def score(it):  # +confidence when called real, -confidence when called simulated
        return given[it["item"]][2] if given[it["item"]][0] == "real" else -given[it["item"]][2]

    best = max((it for it in answered if it["truth"] == "simulated"), key=score)
    assert score(next(it for it in items if it["item"] == top["item"])) == score(best)
    assert all(r["source"] != "real" for r in report["most_convincing_synthetic"])
    assert all(r["source"] == "real" for r in report["least_convincing_real"])


def test_csv_holds_one_row_per_answer(sets):
    run, _ = make_quiz(sets)
    rs.record_answer(run, 0, "real", "benign", 4)
    rs.record_answer(run, 1, "simulated")
    rows = list(csv.DictReader(io.StringIO(rs.answers_csv(run))))
    assert [r["item"] for r in rows] == ["0", "1"]
    assert rows[0]["answer"] == "real" and rows[0]["confidence"] == "4"
    truth = {it["item"]: it["truth"] for it in rs.quiz_items(run)}
    assert rows[1]["correct"] == str(truth[1] == "simulated")


def test_cli_makes_a_session_and_reports_it(sets, tmp_path, capsys):
    real, a, _ = sets
    assert main(["quiz", "--real", str(real), "--synthetic", str(a), "--n", "6", "--size", "32", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    run_id = out.split()[2].rstrip(":")
    for i in range(6):
        rs.record_answer(run_id, i, "real")
    target = tmp_path / "answers.csv"
    assert main(["quiz", "--report", run_id, "--csv", str(target)]) == 0
    out = capsys.readouterr().out
    assert "3/6 = 50.0 %" in out and "p = 1" in out and "66.5 %" in out
    assert len(target.read_text().splitlines()) == 7
    assert main(["quiz", "--real", str(real)]) == 2
    assert main(["quiz", "--report", "quiz-nope"]) == 2


def test_cli_out_names_the_run_store(sets, tmp_path, capsys):
    real, a, _ = sets
    store = tmp_path / "store"
    assert main(["quiz", "--real", str(real), "--synthetic", str(a), "--n", "4", "--size", "32",
                 "--out", str(store)]) == 0
    run_id = capsys.readouterr().out.split()[2].rstrip(":")
    assert (store / run_id / "items.json").is_file()
    assert main(["quiz", "--report", run_id, "--out", str(store)]) == 0
    assert "0 of 4 images answered" in capsys.readouterr().out
