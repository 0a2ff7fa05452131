import json

import numpy as np
import pytest

from simstudio.sim.params import PARAM_SPECS, LesionParams
from simstudio.sim.presets import (
    SimulatorPreset,
    default_preset,
    load_preset,
    sample_for_class,
    sample_params,
    save_preset,
)


def test_params_roundtrip_through_dict():
    p = sample_params("seborrheic_keratosis", np.random.default_rng(2))
    assert LesionParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_every_parameter_has_a_range_group_and_section():
    fields = set(LesionParams.__dataclass_fields__)
    assert fields == set(PARAM_SPECS)
    for spec in PARAM_SPECS.values():
        assert spec.group in ("lesion", "acquisition") and spec.section and spec.help


def test_melanoma_draws_differ_from_nevus_draws_by_the_abcd_rules():
    rng = np.random.default_rng(0)
    mel = [sample_params("melanoma", rng) for _ in range(200)]
    nev = [sample_params("nevus", rng) for _ in range(200)]
    # expected gap 0.33 (uniform 0.2-1.0 vs 0-0.55), sampling sd ~0.02 at n = 200
    assert np.mean([p.asymmetry for p in mel]) > np.mean([p.asymmetry for p in nev]) + 0.25
    assert np.mean([p.diameter_mm for p in mel]) > np.mean([p.diameter_mm for p in nev])
    # 3 colours expected for melanoma, 2 for nevus: one more, with sampling noise of ~0.1 at n = 200.
    assert np.mean([len(p.colours) for p in mel]) > np.mean([len(p.colours) for p in nev]) + 0.7
    # B of ABCD: pigment stops abruptly on more of the 8 border segments.
    assert np.mean([p.abrupt_segments for p in mel]) > np.mean([p.abrupt_segments for p in nev]) + 1.5


def test_fair_preset_draws_acquisition_from_one_distribution_for_every_class():
    study = default_preset()
    rng = np.random.default_rng(0)
    ben = [sample_for_class(study, "benign", rng)[0] for _ in range(400)]
    mal = [sample_for_class(study, "malignant", rng)[0] for _ in range(400)]
    for name in ("tint_a", "blur_mm", "vignette", "hair_count"):
        a, b = np.mean([getattr(p, name) for p in ben]), np.mean([getattr(p, name) for p in mal])
        spread = np.std([getattr(p, name) for p in ben + mal])
        assert abs(a - b) < 0.25 * spread, name


def test_benign_mixes_nevus_and_sk():
    study = default_preset()
    rng = np.random.default_rng(1)
    kinds = {sample_for_class(study, "benign", rng)[1] for _ in range(50)}
    assert kinds == {"nevus", "seborrheic_keratosis"}


def test_preset_save_load_roundtrip(tmp_path):
    study = default_preset("three_class")
    study.lesion["nevus"]["asymmetry"] = {"uniform": [0.0, 0.1]}
    path = save_preset(study, tmp_path / "p.json")
    loaded = load_preset(path)
    assert loaded == study
    a = sample_for_class(loaded, "nevus", np.random.default_rng(5))
    b = sample_for_class(study, "nevus", np.random.default_rng(5))
    assert a == b


@pytest.mark.parametrize("edit,message", [
    ({"acquisition": {"tint_a": {"uniform": [0, 99]}}}, r"tint_a = 99.0 is out of range"),
    ({"lesion": {"nevus": {"sparkle": {"const": 1}}}}, r"unknown lesion parameter 'sparkle'"),
    ({"mode": "sneaky"}, r"mode = 'sneaky' is out of range"),
    ({"acquisition_by_class": {"benign": {"tint_a": {"const": 30}}}}, r"'fair' preset cannot"),
])
def test_bad_preset_names_what_is_wrong(tmp_path, edit, message):
    from simstudio.sim.presets import preset_to_dict

    data = preset_to_dict(default_preset())
    for k, v in edit.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            for kk, vv in v.items():
                data[k][kk] = {**data[k].get(kk, {}), **vv} if k == "lesion" else vv
        else:
            data[k] = v
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        load_preset(path)


def test_matching_mode_may_give_classes_their_own_acquisition():
    study = SimulatorPreset(mode="matching", acquisition_by_class={"benign": {"tint_a": {"const": 28.0}}})
    study.validate()
    rng = np.random.default_rng(0)
    assert all(sample_for_class(study, "benign", rng)[0].tint_a == 28.0 for _ in range(10))
    assert any(sample_for_class(study, "malignant", rng)[0].tint_a != 28.0 for _ in range(10))


def test_shipped_preset_files_match_the_built_in_defaults():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "assets" / "presets"
    assert load_preset(root / "default-binary.json") == default_preset("binary")
    assert load_preset(root / "default-three_class.json") == default_preset("three_class")


def _with_joint(spec, drop=("tint_a", "tint_b", "exposure")):
    from simstudio.sim.presets import preset_from_dict, preset_to_dict

    data = preset_to_dict(default_preset())
    for name in drop:
        data["acquisition"].pop(name)
    data["acquisition"]["tint_a+tint_b+exposure"] = spec
    return preset_from_dict(data)


def test_a_joint_draw_keeps_each_rows_values_together():
    rows = [[-10.0, 15.0, 0.5], [25.0, -20.0, -0.5]]
    study = _with_joint({"rows": rows})
    rng = np.random.default_rng(0)
    drawn = {(p.tint_a, p.tint_b, p.exposure) for p, _ in (sample_for_class(study, c, rng)
                                                           for c in ("benign", "malignant") * 20)}
    assert drawn == {tuple(r) for r in rows}  # never one row's tint with another's exposure


def test_joint_jitter_spreads_around_the_row_and_stays_in_range():
    study = _with_joint({"rows": [[39.5, 0.0, 0.0]], "jitter": [3.0, 1.0, 0.0]})
    rng = np.random.default_rng(1)
    draws = np.array([[p.tint_a, p.tint_b, p.exposure] for p, _ in
                      (sample_for_class(study, "benign", rng) for _ in range(200))])
    assert draws[:, 0].max() <= PARAM_SPECS["tint_a"].high and (draws[:, 0] < 38).mean() > 0.2
    assert 0.7 < draws[:, 1].std() < 1.3 and (draws[:, 2] == 0.0).all()


def test_a_joint_preset_round_trips_through_json(tmp_path):
    study = _with_joint({"rows": [[1.0, 2.0, 0.1], [3.0, 4.0, -0.1]], "jitter": [0.5, 0.5, 0.01]})
    loaded = load_preset(save_preset(study, tmp_path / "joint.json"))
    assert loaded == study
    assert sample_for_class(loaded, "benign", np.random.default_rng(3)) == \
        sample_for_class(study, "benign", np.random.default_rng(3))


@pytest.mark.parametrize("spec,drop,message", [
    ({"rows": []}, ("tint_a", "tint_b", "exposure"), r"needs \{\"rows\""),
    ({"rows": [[1.0, 2.0]]}, ("tint_a", "tint_b", "exposure"), r"row 0 must hold 3 numbers"),
    ({"rows": [[1.0, 2.0, 9.0]]}, ("tint_a", "tint_b", "exposure"), r"row 0: exposure = 9.0 is out of range"),
    ({"rows": [[1.0, "x", 0.0]]}, ("tint_a", "tint_b", "exposure"), r"row 0: tint_b = 'x' is not a number"),
    ({"rows": [[1.0, 2.0, 0.0]], "jitter": [1, -1, 0]}, ("tint_a", "tint_b", "exposure"), r"jitter must be 3"),
    ({"rows": [[1.0, 2.0, 0.0]], "bins": 3}, ("tint_a", "tint_b", "exposure"), r"unknown field\(s\) bins"),
    ({"rows": [[1.0, 2.0, 0.0]]}, ("tint_b", "exposure"), r"'tint_a' is drawn twice"),
])
def test_a_bad_joint_draw_names_what_is_wrong(spec, drop, message):
    with pytest.raises(ValueError, match=message):
        _with_joint(spec, drop)


def test_only_numeric_parameters_are_drawn_jointly():
    from simstudio.sim.presets import preset_from_dict, preset_to_dict

    data = preset_to_dict(default_preset())
    data["acquisition"].pop("hair_colour")
    data["acquisition"].pop("tint_a")
    data["acquisition"]["hair_colour+tint_a"] = {"rows": [[0, 1.0]]}
    with pytest.raises(ValueError, match="hair_colour is not numeric"):
        preset_from_dict(data)
