"""The data-efficiency experiment: nested stratified real subsets, the same test images for every arm, the
curve and worth N (known answers on constructed curves, "no gain" on equal ones, never extrapolated), the
shared pretraining equal to a unit that pretrained itself, and a tiny run end to end (CLI and report)."""

import json

import numpy as np
import pytest
from experiment_data import SIZE, write_folder

from simstudio.cli import main
from simstudio.experiments import plan as plan_mod
from simstudio.experiments import stats
from simstudio.experiments.config import experiment_from_dict, load_preset, with_data
from simstudio.experiments.data_efficiency import (
    curve_arm_name,
    nested_order,
    nested_take,
    worth_text,
)
from simstudio.experiments.runner import run_experiment_here

SIZES = np.array([25.0, 50, 100, 200, 400])


def _curve_config(real, sim=None, sizes=(3, 6, 0), lines=("real only", "real + classical augmentation"),
                  **overrides):
    """The data_efficiency preset on the tiny folders: a few lines, tiny sizes and budget, 16 px."""
    cfg = load_preset("data_efficiency")
    cfg = with_data(cfg, curve_arms=[t.__dict__ for t in cfg.curve_arms if t.name in lines])
    d = cfg.to_dict()
    for t in d["curve_arms"]:
        if t["composition"] == "pretrain":
            t["pretrain_epochs"] = 1
        if t["composition"] == "mix":
            t["synthetic_per_class"] = 8
    d.update(real=str(real), split="", split_spec="70/30", repeats=2, image_size=SIZE, real_sizes=list(sizes),
             train_budget=48, n_boot=200, model={**d["model"], "batch_size": 16, "lr": 0.02, "device": "cpu"})
    d["synthetic"][0].update(path=str(sim) if sim else "", preset="")
    d.update(overrides)
    return experiment_from_dict(d)


# -- config and planning --------------------------------------------------------------------------
def test_the_preset_is_six_sizes_by_four_lines_on_a_fixed_budget_with_three_seeds():
    cfg = load_preset("data_efficiency")
    assert cfg.real_sizes == [25, 50, 100, 200, 400, 0] and cfg.repeats >= 3
    assert [t.composition for t in cfg.curve_arms] == ["real", "augment", "pretrain", "mix", "mix"]
    assert len(cfg.arms) == 24  # the refined line waits for its folder
    assert cfg.train_budget > 0 and not cfg.validation and cfg.model["select_best"] is False
    assert cfg.split == "dataset" and cfg.baseline == "real only · all"
    with_gan = with_data(cfg, synthetic=["refined:gan=/tmp/some-gan-export"])
    assert len(with_gan.arms) == 30 and with_gan.arm("real + refined · 50/class").synthetic == "refined"
    again = experiment_from_dict(with_gan.to_dict())  # a saved config expands to the same arms
    assert [a.name for a in again.arms] == [a.name for a in with_gan.arms]
    fewer = with_data(cfg, real_sizes=[25, 100])
    assert [a.name for a in fewer.arms][:2] == ["real only · 25/class", "real only · 100/class"]
    assert fewer.baseline == "real only · 100/class"  # 'all' is not a size any more: the largest is
    with pytest.raises(ValueError, match="real_sizes"):
        with_data(cfg, real_sizes=[25, 25])


def test_nested_subsets_are_nested_stratified_and_shared_by_the_arms_of_a_repeat(tmp_path):
    real = write_folder(tmp_path / "real", 30, seed=1, prefix="real")
    cfg = _curve_config(real, sizes=(3, 6, 12, 0))
    prep = plan_mod.prepare(cfg, tmp_path / "run")
    labels = np.asarray(prep.real.labels)
    by = {(u.arm, u.repeat): u for u in prep.units}
    test = {tuple(u.test_rows) for u in prep.units}
    assert len(test) == 1  # every arm, size and seed: the same real test images
    for r in range(2):
        prev = set()
        for n in (3, 6, 12, 0):
            rows = by[(curve_arm_name("real only", n), r)].train_rows
            assert rows == by[(curve_arm_name("real + classical augmentation", n), r)].train_rows
            counts = np.bincount(labels[rows], minlength=2)
            assert list(counts) == ([n, n] if n else [21, 21])  # stratified: n of every class (pool 21)
            assert prev <= set(rows)  # nested: a larger set holds every image of a smaller one
            assert not set(rows) & set(next(iter(test)))
            prev = set(rows)
        assert all(not u.val_rows for u in prep.units)  # validation: false
    assert by[("real only · 6/class", 0)].train_rows != by[("real only · 6/class", 1)].train_rows
    # a fixed budget of image presentations: 6 real images, 48 shown -> 8 epochs; all 42 -> 1
    assert by[("real only · 3/class", 0)].epochs == 8 and by[("real only · all", 0)].epochs == 1


def test_nested_take_refuses_a_size_a_class_cannot_fill():
    labels = np.array([0] * 10 + [1] * 4)
    order = nested_order(np.arange(14), labels, 2, np.random.default_rng(0))
    assert sorted(nested_take(order, 4, ["a", "b"], "x")) == sorted(np.r_[order[0][:4], order[1][:4]])
    with pytest.raises(ValueError, match="b has 4"):
        nested_take(order, 5, ["a", "b"], "arm 'x'")


# -- worth N --------------------------------------------------------------------------------------
def test_real_equivalent_inverts_the_curve_on_a_log_axis_and_never_extrapolates():
    auc = 0.60 + 0.05 * np.log2(SIZES / 25)  # +0.05 per doubling: linear in log size
    for n, shift in ((25, 1.8), (50, 1.5), (100, 3.0), (200, 1.25)):
        target = 0.60 + 0.05 * np.log2(n * shift / 25)
        v, flag = stats.real_equivalent(SIZES, auc, target)
        assert flag == "" and v == pytest.approx(n * shift)
    assert stats.real_equivalent(SIZES, auc, 0.95) == (400.0, "above")  # more than all of it
    assert stats.real_equivalent(SIZES, auc, 0.50) == (25.0, "below")
    assert stats.real_equivalent(SIZES, auc, auc[2]) == pytest.approx((100.0, ""))
    # a dip in the real curve is pooled (isotonic) before it is read, so the answer is unique
    bumpy = np.array([0.60, 0.70, 0.66, 0.75, 0.80])
    assert list(stats.isotonic(bumpy)) == pytest.approx([0.60, 0.68, 0.68, 0.75, 0.80])
    v, _ = stats.real_equivalent(SIZES, bumpy, 0.68)
    assert v == pytest.approx(50.0)


def _scores(rng, y, seps, seeds):
    """Probabilities (S, R, N, 2) of a binormal classifier per size and seed (separation `seps[s]`)."""
    noise = rng.normal(size=(seeds, y.size))
    out = []
    for d in seps:
        s = d * (y - 0.5) + noise
        p1 = 1 / (1 + np.exp(-s))
        out.append(np.stack([1 - p1, p1], -1))
    return np.stack(out)


def _worth(real, arm, arm_sizes, y, n_boot=300):
    boot = stats.curve_bootstrap(y, {"real": real, "arm": arm}, n_boot=n_boot, seed=1)
    r, a = boot["real"]["roc_auc"], boot["arm"]["roc_auc"]
    return stats.worth_n_bootstrap(SIZES, r["draws"], r["point"], arm_sizes, a["draws"], a["point"])


def test_worth_n_recovers_a_known_shift_with_a_tight_interval():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    real = _scores(rng, y, [0.4, 0.9, 1.4, 1.9, 2.4], seeds=3)
    # the arm at n predicts exactly what real-only does at 2n: it is worth twice its real images
    res = _worth(real, real[1:], SIZES[:4], y)
    for n, r in zip(SIZES[:4], res, strict=True):
        assert r["worth"] == pytest.approx(2 * n) and r["flag"] == ""
        assert r["low"] == pytest.approx(2 * n) and r["high"] == pytest.approx(2 * n)
        assert r["verdict"] == "gain" and r["diff_low"] > 0
    text = worth_text("simulated pretraining", 50, res[1], 400)
    assert text == "simulated pretraining at 50 real/class ≈ 100 real/class (95 % CI 100–100)"


def test_worth_n_says_no_measurable_gain_on_equal_curves():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 150)
    real = _scores(rng, y, [0.4, 0.9, 1.4, 1.9, 2.4], seeds=3)
    same = _worth(real, real, SIZES, y)
    for n, r in zip(SIZES, same, strict=True):
        assert r["worth"] == pytest.approx(n) and r["verdict"] == "no measurable gain"
        assert r["diff"] == 0.0 and r["diff_low"] == r["diff_high"] == 0.0
    # equal in distribution (other seeds' noise): the interval still holds n
    other = _scores(np.random.default_rng(2), y, [0.4, 0.9, 1.4, 1.9, 2.4], seeds=3)
    res = _worth(real, other, SIZES, y)
    assert [r["verdict"] for r in res] == ["no measurable gain"] * 5
    line = worth_text("real + simulated", 100, res[2], 400)
    assert line.startswith("real + simulated at 100 real/class ≈ ") and line.endswith(": no measurable gain")


def test_worth_n_above_the_real_curve_says_more_than_all_and_below_says_fewer_than():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 150)
    real = _scores(rng, y, [0.4, 0.9, 1.4, 1.9, 2.4], seeds=2)
    better = _scores(rng, y, [4.0], seeds=2)  # far above real-only with all 400 per class
    (r,) = _worth(real, better, SIZES[-1:], y)
    assert (r["worth"], r["flag"]) == (400.0, "above") and r["high_flag"] == "above"
    assert r["verdict"] == "gain"
    assert "≈ more than all 400 real/class" in worth_text("GAN", 400, r, 400)
    worse = _scores(rng, y, [0.05], seeds=2)  # under real-only's smallest size
    (w,) = _worth(real, worse, SIZES[2:3], y)
    assert w["flag"] == "below" and w["verdict"] == "measurable loss"
    assert "≈ fewer than 25 real/class" in worth_text("GAN", 100, w, 400)


# -- end to end -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished tiny data-efficiency run: real only and simulated pretraining at 4/class and all, two
    seeds, with an out-of-distribution test folder."""
    base = tmp_path_factory.mktemp("dataeff")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMSTUDIO_HOME", str(base / "runs"))
        real = write_folder(base / "real", 24, seed=1, prefix="real")
        sim = write_folder(base / "sim", 12, seed=2, prefix="sim")
        ood = write_folder(base / "ood", 10, seed=3, prefix="ood")
        cfg = _curve_config(real, sim, sizes=(4, 0), lines=("real only", "simulated pretraining"),
                            ood_test=str(ood))
        run, result = run_experiment_here(cfg)
    assert run.status == "finished", run.error
    return run, result, base


def test_a_tiny_run_gives_the_curve_and_worth_n_on_both_test_sets(tiny_run):
    run, result, _ = tiny_run
    preds = [json.loads(p.read_text()) for p in sorted(run.path.glob("units/*/predictions.json"))]
    assert len(preds) == 8 and len({tuple(p["test"]["files"]) for p in preds}) == 1
    assert len({tuple(p["ood"]["files"]) for p in preds}) == 1
    curve = result["data_efficiency"]
    assert curve["reference"] == "real only"
    for part in ("test", "ood"):
        p = curve["parts"][part]
        assert p["seeds"] == 2 and set(p["lines"]) == {"real only", "simulated pretraining"}
        line = p["lines"]["simulated pretraining"]
        assert line["x"] == [4.0, 17.0]  # all = the 17 per class of the 70 % training pool
        for m in ("roc_auc", "balanced_accuracy"):
            assert all(lo <= mu <= hi for lo, mu, hi in zip(line[m]["low"], line[m]["mean"], line[m]["high"],
                                                             strict=True))
        assert [(w["line"], w["n"]) for w in p["worth"]] == [("simulated pretraining", 4.0),
                                                             ("simulated pretraining", 17.0)]
        assert all(w["text"].startswith("simulated pretraining at ") for w in p["worth"])
    means = [a["metrics"]["roc_auc"]["mean"] for a in result["arms"] if a["name"].startswith("real only")]
    assert curve["parts"]["test"]["lines"]["real only"]["roc_auc"]["mean"] == pytest.approx(means)


def test_shared_pretraining_equals_a_unit_that_pretrained_itself(tiny_run, monkeypatch):
    run, result, base = tiny_run
    logs = [e["message"] for e in run.events("log")]
    assert sum("starts from the pretraining" in m for m in logs) == 2  # the 'all' unit of each seed
    assert len(list((run.path / "shared").glob("pretrained-*.pt"))) == 2
    monkeypatch.setenv("SIMSTUDIO_HOME", str(base / "runs"))
    cfg = _curve_config(base / "real", base / "sim", sizes=(0,), lines=("real only", "simulated pretraining"),
                        repeats=1)
    alone, _ = run_experiment_here(cfg)
    assert alone.status == "finished", alone.error
    assert not any("starts from the pretraining" in e["message"] for e in alone.events("log"))
    key = "simulated-pretraining-all-r0"
    mine = json.loads((alone.path / "units" / key / "predictions.json").read_text())
    shared = json.loads((run.path / "units" / key / "predictions.json").read_text())
    assert mine["test"]["files"] == shared["test"]["files"]
    np.testing.assert_allclose(mine["test"]["proba"], shared["test"]["proba"], atol=1e-6)


def test_the_cli_prints_the_curve_and_the_report_shows_it(tiny_run, capsys, monkeypatch):
    run, _, base = tiny_run
    monkeypatch.setenv("SIMSTUDIO_HOME", str(base / "runs"))
    assert main(["experiment", "--report", run.id]) == 0
    out = capsys.readouterr().out
    assert "data efficiency on the real test set" in out and "out-of-distribution test set" in out
    assert "worth N" in out and "simulated pretraining at 4 real/class ≈" in out
    html = (run.path / "report.html").read_text()
    assert "How many real images is the synthetic data worth?" in html
    assert "id='worth-n'" in html and "table id='curve-test'" in html and "table id='curve-ood'" in html
    assert "Data efficiency: metric vs real training images per class" in html
