"""Fitting the simulator: the search improves its objective on a toy target with known parameters,
never reads the test part of the split, and the fitted preset round-trips through JSON."""

import hashlib
import json

import pytest

from simstudio.experiments.simfit import (
    SimFitConfig,
    apply_knobs,
    fit_simulator,
    knob_values,
    load_fit_data,
    search_space,
    trial_table,
)
from simstudio.jobs import run_in_foreground
from simstudio.sim.presets import default_preset, load_preset, sample_for_class, save_preset

KNOBS = ["nevus.diameter_mm", "melanoma.diameter_mm"]


def test_fit_moves_toward_a_known_target_and_records_provenance(toy_target, tmp_path):
    real, split = toy_target
    out = tmp_path / "fitted-toy.json"
    config = SimFitConfig(real=str(real), split_file=str(split), knobs=KNOBS, n_trials=10, per_class=16,
                          size=48, seed=0, out=str(out), name="fitted-toy")
    run, result = run_in_foreground("simfit", fit_simulator, config, echo=False)
    assert run.status == "finished", run.error
    assert result["best_value"] < result["start_value"]            # the search improved its objective
    best = result["best_params"]
    start = knob_values(default_preset(), search_space(default_preset(), knobs=KNOBS))
    # Ten trials of a noisy objective need not improve every knob; together they must move toward the target.
    def distance(v):
        return abs(v["nevus.diameter_mm"] - 15.0) + abs(v["melanoma.diameter_mm"] - 6.0)

    assert distance(best) < 0.7 * distance(start)
    fitted = load_preset(out)
    assert fitted.mode == "fair" and fitted.acquisition_by_class == {}
    prov = fitted.provenance
    assert prov["dataset"] == str(real) and prov["parts"] == ["val"] and prov["objective"] == "stats"
    assert prov["trials"] == 10 and prov["real_images"] == {"benign": 24, "malignant": 24}
    # the fit names the images it read (sha1 prefixes), so an experiment can refuse to test on them
    read = {hashlib.sha1(f.read_bytes()).hexdigest()[:12] for f in real.glob("*/*.png")}
    assert sorted(prov["real_sha1"]) == prov["real_sha1"] and set(prov["real_sha1"]) == read
    table = trial_table(run.path)
    assert [t["trial"] for t in table] == list(range(10)) and table[0]["value"] == result["start_value"]
    assert (run.path / "samples" / "best.png").is_file() and (run.path / "fitted_preset.json").is_file()
    assert load_preset(run.path / "best_so_far_preset.json").lesion == fitted.lesion


def test_the_test_part_is_refused_and_never_read(toy_target):
    real, split = toy_target
    with pytest.raises(ValueError, match="never reads the test part"):
        SimFitConfig(real=str(real), split_file=str(split), real_parts=["val", "test"]).validate()
    data = load_fit_data(SimFitConfig(real=str(real), split_file=str(split), size=48))
    assert len(data.files) == 48 and not any("held-out" in f for f in data.files)


def test_a_folder_without_a_split_is_refused(toy_target):
    real, _ = toy_target
    with pytest.raises(ValueError, match="no saved split"):
        load_fit_data(SimFitConfig(real=str(real), size=48))


def test_fitted_preset_round_trips_and_draws(tmp_path):
    base = default_preset()
    knobs = search_space(base, "fair", "full")
    # the full space reaches the melanomas' and nevi's pigment gaps the built-in preset draws
    assert {"melanoma.pigment_gaps", "nevus.pigment_gaps"} <= {k.name for k in knobs}
    values = {k.name: (k.low + k.high) / 2 for k in knobs}
    fitted = apply_knobs(base, knobs, values)
    assert knob_values(fitted, knobs) == pytest.approx(values, abs=0.01)
    path = save_preset(fitted, tmp_path / "fitted-x.json")
    again = load_preset(path)
    assert json.loads(path.read_text())["lesion"] == fitted.lesion and again.acquisition == fitted.acquisition
    import numpy as np

    params, kind = sample_for_class(again, "malignant", np.random.default_rng(0))
    assert kind == "melanoma" and params.validate()


def test_fair_knobs_are_shared_and_matching_knobs_per_class():
    base = default_preset()
    fair = search_space(base, "fair")
    assert {k.target for k in fair if k.param == "tint_a"} == {"acquisition"}
    matching = search_space(base, "matching")
    assert {k.target for k in matching if k.param == "tint_a"} == {"acquisition:benign", "acquisition:malignant"}
    fitted = apply_knobs(base, matching, {"acquisition:benign.tint_a": 25.0})
    assert fitted.mode == "matching" and "tint_a" in fitted.acquisition_by_class["benign"]
    with pytest.raises(ValueError, match="unknown knob"):
        search_space(base, knobs=["melanoma.wings"])


def test_cli_refuses_the_test_part(toy_target, capsys):
    from simstudio.cli import main

    real, split = toy_target
    assert main(["fit-simulator", str(real), "--split", str(split), "--parts", "val,test"]) == 2
    assert "never reads the test part" in capsys.readouterr().err


def test_transfer_objective_scores_class_differences(toy_target):
    """stats_auc: a classifier fitted on simulated statistics, scored on the real ones. The toy target's
    malignant lesions are the small ones: a preset drawing them small scores high, one drawing them large
    (the class difference reversed) scores low."""
    from simstudio.experiments.fit_objective import TrialObjective

    real, split = toy_target
    config = SimFitConfig(real=str(real), split_file=str(split), objective="stats_auc", per_class=16, size=48,
                          n_trials=1)
    data = load_fit_data(config)

    def preset(benign_mm, malignant_mm):
        p = default_preset()
        for kind in ("nevus", "seborrheic_keratosis"):
            p.lesion[kind]["diameter_mm"] = {"lognormal": [benign_mm, 0.1]}
        p.lesion["melanoma"]["diameter_mm"] = {"lognormal": [malignant_mm, 0.1]}
        return p

    right, details = TrialObjective(config, data, preset(16.0, 5.0), [])({})
    reversed_, _ = TrialObjective(config, data, preset(5.0, 16.0), [])({})
    assert right > 0.8 and reversed_ < 0.5 and details == {"real_auc": right}


def test_sim_auc_objective_trains_on_simulated_images_and_scores_the_real_part(toy_target):
    from simstudio.experiments.fit_objective import TrialObjective

    real, split = toy_target
    config = SimFitConfig(real=str(real), split_file=str(split), objective="sim_auc", per_class=12, size=48,
                          quick_epochs=1, quick_size=32, n_trials=1)
    value, details = TrialObjective(config, load_fit_data(config), default_preset(), [])({})
    assert 0.0 <= value <= 1.0 and details == {"val_auc": value}


def test_colour_constancy_neutralises_the_real_images_cast(toy_target):
    import numpy as np

    real, split = toy_target
    raw = load_fit_data(SimFitConfig(real=str(real), split_file=str(split), size=48)).images
    neutral = load_fit_data(SimFitConfig(real=str(real), split_file=str(split), size=48, colour_constancy=True)).images

    def cast(images):   # spread of the Minkowski-6 channel means of each image
        x = images.reshape(len(images), -1, 3).astype(float) / 255
        m = np.power(np.power(x, 6).mean(1), 1 / 6)
        return float((m.max(1) - m.min(1)).mean())

    assert cast(neutral) < 0.25 * cast(raw)


def test_a_photos_camera_fit_draws_the_real_sets_camera_and_does_not_search_it(toy_target, tmp_path, capsys):
    """camera="photos": skin type, cast and exposure come from the real photos as one joint draw (read as
    taken even under colour constancy), their knobs leave the search, and the provenance says so."""
    from simstudio.cli import main
    from simstudio.experiments.camera_fit import CAMERA_KEY, REPLACED

    real, split = toy_target
    out = tmp_path / "fitted-cam.json"
    assert main(["fit-simulator", str(real), "--split", str(split), "--knobs", ",".join(KNOBS), "--trials", "2",
                 "--per-class", "8", "--size", "48", "--camera", "photos", "--colour-constancy",
                 "--out", str(out)]) == 0
    assert "Camera: skin type, cast and exposure drawn together from 48 real photos" in capsys.readouterr().out
    fitted = load_preset(out)
    assert CAMERA_KEY in fitted.acquisition and not set(REPLACED) & set(fitted.acquisition)
    assert len(fitted.acquisition[CAMERA_KEY]["rows"]) == 48  # one per real photo of the fit, both classes
    assert fitted.mode == "fair" and fitted.provenance["camera"] == "photos"
    assert fitted.provenance["camera_table"]["photos"] == 48
    assert not [k for k in search_space(fitted) if k.param in REPLACED]
    with pytest.raises(ValueError, match="camera = 'lens': expected one of ranges, photos"):
        SimFitConfig(real=str(real), camera="lens").validate()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["fit-simulator", str(real), "--split", str(split), "--camera", "lens"])
    assert exit_.value.code == 2 and "invalid choice: 'lens'" in capsys.readouterr().err


def test_the_realism_constraint_keeps_the_best_trial_whose_c2st_is_under_the_cap():
    """Among scored trials, the kept one is the best by the objective whose C2ST is at most the cap; where
    none is, the most realistic one (a real optuna study, told by hand)."""
    import optuna

    from simstudio.experiments.fit_keep import best_trial as _best_trial

    study = optuna.create_study(direction="maximize")
    for value, c2st in ((0.70, 0.86), (0.85, 0.97), (0.78, 0.87), (0.78, 0.80), (0.60, 0.75)):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr("c2st", c2st)
        study.tell(trial, value)
    assert _best_trial(study, 0.0).number == 1   # no constraint: the best AUC, however unrealistic
    assert _best_trial(study, 0.88).number == 2  # 0.85 breaks the cap; of the two 0.78s, the first
    assert _best_trial(study, 0.76).number == 4
    assert _best_trial(study, 0.7).number == 4   # none keeps it: the most realistic
    minimise = optuna.create_study(direction="minimize")
    for value, c2st in ((0.2, 0.9), (0.1, 0.95), (0.3, 0.6)):
        trial = minimise.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr("c2st", c2st)
        minimise.tell(trial, value)
    assert _best_trial(minimise, 0.92).number == 0


def test_a_constrained_fit_records_each_trials_c2st_and_says_whether_the_cap_was_kept(toy_target, tmp_path, capsys):
    import cv2

    from simstudio.cli import main

    real, split = toy_target
    # The toy set is the simulator's own output, which a C2ST cannot tell from simulated images; its darkened
    # copy it tells apart at once, so a cap of 0.5 is out of every trial's reach.
    dark = tmp_path / "dark"
    for f in real.glob("*/*.png"):
        (dark / f.parent.name).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dark / f.parent.name / f.name), (cv2.imread(str(f)) * 0.45).astype("uint8"))
    common = ["fit-simulator", str(dark), "--split", str(split), "--knobs", ",".join(KNOBS), "--trials", "4",
              "--per-class", "8", "--size", "48", "--objective", "stats_auc"]
    for cap in ("1", "0.5"):
        out = tmp_path / f"fitted-{cap}.json"
        assert main([*common, "--max-c2st", cap, "--out", str(out), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        table = trial_table(_run_path(result["run"]))
        c2sts = [t["c2st"] for t in table]
        assert len(c2sts) == 4 and all(0.0 <= c <= 1.0 for c in c2sts)
        assert all(t["c2st"] == pytest.approx((t["c2st_benign"] + t["c2st_malignant"]) / 2, abs=1e-3)
                   for t in table)
        prov = load_preset(out).provenance
        assert prov["max_c2st"] == float(cap) and result["max_c2st"] == float(cap)
        kept = table[result["best_trial"]]
        assert result["best_c2st"] == pytest.approx(kept["c2st"], abs=1e-4) == prov["best_c2st"]
        if cap == "1":  # every trial keeps it: the best by the objective
            assert result["constraint_met"] and result["best_value"] == max(t["value"] for t in table)
        else:  # a C2ST of 0.5 is out of reach: the most realistic trial, and the fit says so
            assert not result["constraint_met"] and kept["c2st"] == min(c2sts)
        assert main(["preset", "--check", str(out)]) == 0  # the preset says what it was held to
        said = capsys.readouterr().out
        assert ("Realism constraint kept" if cap == "1" else "No trial kept the realism constraint") in said
    assert main([*common, "--max-c2st", "0.5"]) == 0
    said = capsys.readouterr()
    assert "No trial kept the realism constraint (C2ST <= 0.5)" in said.out
    assert "the start preset itself reads C2ST" in said.out + said.err


def _run_path(run_id):
    from simstudio.runs import open_run

    return open_run(run_id).path


def test_a_realism_cap_out_of_range_or_on_the_c2st_objective_is_refused(toy_target, capsys):
    from simstudio.cli import main

    real, split = toy_target
    with pytest.raises(ValueError, match=r"max_c2st = 0.3 is out of range: expected 0 \(no constraint\)"):
        SimFitConfig(real=str(real), max_c2st=0.3).validate()
    with pytest.raises(ValueError, match="the c2st objective already minimises it"):
        SimFitConfig(real=str(real), objective="c2st", max_c2st=0.9).validate()
    assert main(["fit-simulator", str(real), "--split", str(split), "--max-c2st", "1.5"]) == 2
    assert "max_c2st = 1.5 is out of range" in capsys.readouterr().err


def test_a_trust_region_keeps_every_trial_near_the_start_preset(toy_target, tmp_path):
    real, split = toy_target
    out = tmp_path / "fitted-near.json"
    config = SimFitConfig(real=str(real), split_file=str(split), knobs=KNOBS, n_trials=5, per_class=8, size=48,
                          radius=0.1, out=str(out))
    run, _ = run_in_foreground("simfit", fit_simulator, config, echo=False)
    assert run.status == "finished", run.error
    whole = search_space(default_preset(), knobs=KNOBS)
    start = knob_values(default_preset(), whole)
    for t in trial_table(run.path):
        for k in whole:
            assert abs(t["params"][k.name] - start[k.name]) <= 0.1 * (k.high - k.low) + 1e-9
    assert load_preset(out).provenance["radius"] == 0.1
    with pytest.raises(ValueError, match=r"radius = 0 is out of range: expected a share of each knob's range"):
        SimFitConfig(real=str(real), radius=0).validate()


def test_confirmation_candidates_are_the_start_then_the_best_trials_under_the_cap():
    import optuna

    from simstudio.experiments.fit_keep import candidates, fresh_seeds

    study = optuna.create_study(direction="maximize")
    for value, c2st in ((0.70, 0.86), (0.85, 0.97), (0.78, 0.87), (0.80, 0.80), (0.60, 0.75), (0.79, 0.70)):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr("c2st", c2st)
        study.tell(trial, value)
    assert [t.number for t in candidates(study, 0.88, start_number=0)] == [0, 3, 5, 2]  # 1 breaks the cap
    assert [t.number for t in candidates(study, 0.0, start_number=0)] == [0, 1, 3, 5]
    assert fresh_seeds(2, 3) == [1002, 1003, 1004]  # never the search's seed 2 nor the preview's 3


def test_a_confirmed_fit_rescores_the_start_and_the_best_trials_on_fresh_seeds_and_keeps_the_best_mean(
        toy_target, tmp_path, capsys):
    from simstudio.cli import main

    real, split = toy_target
    out = tmp_path / "fitted-confirmed.json"
    assert main(["fit-simulator", str(real), "--split", str(split), "--knobs", ",".join(KNOBS), "--trials", "5",
                 "--per-class", "8", "--size", "48", "--objective", "stats", "--confirm", "2", "--seed", "4",
                 "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "Confirmed on 2 fresh seeds (stats, mean ± sd): start " in said and "(kept)" in said
    run_id = said.split("run: ")[-1].split()[0]
    result = json.loads((_run_path(run_id) / "result.json").read_text())
    result = result.get("result", result)
    c = result["confirm"]
    assert c["seeds"] == [1004, 1005]
    rows = c["rows"]
    assert rows[0]["trial"] == 0 and rows[0]["minus_start"] == 0.0 and 2 <= len(rows) <= 4
    assert all(len(r["values"]) == 2 and r["mean"] == pytest.approx(sum(r["values"]) / 2, abs=1e-4) for r in rows)
    assert all(r["minus_start"] == pytest.approx(r["mean"] - rows[0]["mean"], abs=2e-4) for r in rows)
    best = min(rows, key=lambda r: r["mean"])  # stats: lower is better
    assert c["kept_trial"] == best["trial"] == result["best_trial"]
    assert result["confirmed_value"] == best["mean"] and result["start_confirmed_value"] == rows[0]["mean"]
    table = trial_table(_run_path(run_id))
    assert all(r["search_value"] == pytest.approx(table[r["trial"]]["value"], abs=1e-4) for r in rows)
    assert result["best_value"] == pytest.approx(table[best["trial"]]["value"])
    # the seeds are fresh: each candidate's confirmed scores differ from its score in the search
    assert any(abs(r["mean"] - r["search_value"]) > 1e-6 for r in rows)
    prov = load_preset(out).provenance
    assert prov["confirm"]["kept_trial"] == best["trial"] and prov["best_trial"] == best["trial"]
    assert main(["preset", "--check", str(out)]) == 0  # the preset says how its trial was chosen
    assert "Confirmed on 2 fresh seeds (stats, mean ± sd): start " in capsys.readouterr().out


def test_a_reseeded_objective_draws_other_images_and_repeats_itself(toy_target):
    from simstudio.experiments.fit_objective import TrialObjective

    real, split = toy_target
    config = SimFitConfig(real=str(real), split_file=str(split), knobs=KNOBS, per_class=8, size=48, seed=0)
    objective = TrialObjective(config, load_fit_data(config), default_preset(), [])
    a = objective.reseeded(5).score(default_preset())[0]
    assert objective.reseeded(5).score(default_preset())[0] == a
    assert objective.reseeded(6).score(default_preset())[0] != a
    assert objective.config.seed == 0  # the fit's own objective is left as it was


def test_confirm_seeds_out_of_range_are_refused(toy_target, capsys):
    from simstudio.cli import main

    real, split = toy_target
    for bad in (-1, 21, True):
        with pytest.raises(ValueError, match=r"confirm = .* is out of range: expected 0 \(no confirmation\) to 20"):
            SimFitConfig(real=str(real), confirm=bad).validate()
    assert main(["fit-simulator", str(real), "--split", str(split), "--confirm", "50"]) == 2
    assert "confirm = 50 is out of range" in capsys.readouterr().err
