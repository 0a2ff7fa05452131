"""The clinical (ABCD) order a preset keeps, and a fit that may not break it: the guard named after the
42-knob fits that drew nevi with regression in 94 % of them and nevi more irregular than melanomas."""

import copy

import pytest

from simstudio.experiments.abcd_order import abcd_breaks, mean_of
from simstudio.experiments.simfit import SimFitConfig, apply_knobs, fit_simulator, search_space, trial_table
from simstudio.jobs import run_in_foreground
from simstudio.sim.presets import default_preset, load_preset, preset_names

ASYMMETRY = ["nevus.asymmetry", "melanoma.asymmetry"]


def test_shipped_presets_keep_the_abcd_order():
    for name in preset_names():
        assert abcd_breaks(load_preset(name)) == [], name


def test_each_broken_rule_is_named():
    p = default_preset()
    p.lesion["nevus"]["regression"] = {"maybe": 0.94, "then": {"uniform": [0.2, 0.8]}, "else": 0.0}
    p.lesion["nevus"]["border_irregularity"] = {"uniform": [0.8, 1.0]}
    p.lesion["nevus"]["colours"] = {"colours": {"always": ["light_brown", "blue_grey"]}}
    broken = abcd_breaks(p)
    assert len(broken) == 3
    assert any(b.startswith("nevus regression") and "melanoma" in b for b in broken)
    assert any(b.startswith("nevus border_irregularity 0.9 > melanoma 0.65") for b in broken)
    assert any("nevus draws blue_grey more often than melanoma" in b for b in broken)
    # a benign kind the preset never draws breaks nothing
    p.classes["benign"] = {"seborrheic_keratosis": 1.0}
    assert abcd_breaks(p) == []


def test_means_of_the_distribution_kinds():
    assert mean_of({"uniform": [0.2, 1.0]}) == pytest.approx(0.6)
    assert mean_of({"maybe": 0.25, "then": {"uniform": [0.4, 0.8]}, "else": 0.0}) == pytest.approx(0.15)
    assert mean_of({"choice": [1, 3], "p": [0.75, 0.25]}) == pytest.approx(1.5)
    assert mean_of({"randint": [1, 3]}) == 2.0 and mean_of({"const": 0.3}) == 0.3
    assert mean_of({"colours": {"always": ["tan"]}}) is None


def test_compact_space_holds_distribution_centres_only():
    base = default_preset()
    assert {k.op for k in search_space(base)} == {"centre"}
    assert {"prob", "colour", "weight"} <= {k.op for k in search_space(base, "fair", "full")}


def _fit(toy_target, tmp_path, keep_abcd):
    real, split = toy_target
    config = SimFitConfig(real=str(real), split_file=str(split), knobs=ASYMMETRY, n_trials=8, per_class=8, size=48,
                          seed=0, keep_abcd=keep_abcd, out=str(tmp_path / f"fitted-{keep_abcd}.json"))
    run, result = run_in_foreground("simfit", fit_simulator, config, echo=False)
    assert run.status == "finished", run.error
    return run, result


def _means(t):
    """The asymmetry a trial's preset draws on average, nevus and melanoma (a knob moves a clipped range)."""
    p = apply_knobs(default_preset(), search_space(default_preset(), knobs=ASYMMETRY), t["params"])
    return mean_of(p.lesion["nevus"]["asymmetry"]), mean_of(p.lesion["melanoma"]["asymmetry"])


def test_a_fit_skips_draws_that_break_the_order_unrendered(toy_target, tmp_path):
    run, result = _fit(toy_target, tmp_path, keep_abcd=True)
    table = trial_table(run.path)
    assert len(table) == 8 and all(t["value"] is not None for t in table)   # eight rendered trials
    assert all(nevus <= melanoma for nevus, melanoma in map(_means, table))
    assert result["abcd_skipped"] > 0 and "nevus asymmetry" in result["abcd_rules_broken"]
    fitted = load_preset(tmp_path / "fitted-True.json")
    assert abcd_breaks(fitted) == [] and fitted.provenance["keep_abcd"] is True


def test_with_the_guard_off_trials_may_break_the_order(toy_target, tmp_path):
    run, result = _fit(toy_target, tmp_path, keep_abcd=False)
    table = trial_table(run.path)
    assert result["abcd_skipped"] == 0 and len(table) == 8
    assert any(nevus > melanoma for nevus, melanoma in map(_means, table))


def test_a_start_preset_out_of_order_is_refused(toy_target, tmp_path):
    from simstudio.sim.presets import save_preset

    real, split = toy_target
    base = copy.deepcopy(default_preset())
    base.lesion["nevus"]["asymmetry"] = {"uniform": [0.8, 1.0]}
    path = save_preset(base, tmp_path / "wrong.json")
    config = SimFitConfig(real=str(real), split_file=str(split), base_preset=str(path), knobs=ASYMMETRY,
                          n_trials=2, per_class=8, size=48)
    run, _ = run_in_foreground("simfit", fit_simulator, config, echo=False)
    assert run.status == "failed" and "already breaks the ABCD order" in run.error and "--any-order" in run.error


def test_cli_any_order_lets_trials_break_the_order(toy_target, tmp_path, capsys):
    from simstudio.cli import main

    real, split = toy_target
    args = ["fit-simulator", str(real), "--split", str(split), "--knobs", ",".join(ASYMMETRY), "--trials", "8",
            "--per-class", "8", "--size", "48"]
    assert main(args) == 0
    assert "drawn preset(s) broke the ABCD order and were skipped unrendered" in capsys.readouterr().out
    assert main([*args, "--any-order"]) == 0
    assert "ABCD" not in capsys.readouterr().out
