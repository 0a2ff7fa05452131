"""Each arm composition trains on the set it claims: the counts the plan promises, the images the unit
saved as its training set, and what the classifier reports it composed, all agree."""

import json

import pytest
from experiment_data import tiny_config, write_folder

from simstudio.experiments.runner import run_experiment_here


@pytest.fixture
def imbalanced_real(tmp_path):
    real = write_folder(tmp_path / "real", 30, seed=7, prefix="r")
    for f in sorted((real / "malignant").iterdir())[15:]:
        f.unlink()  # 30 benign, 15 malignant
    return real


def test_compositions_train_on_what_they_claim(tmp_path, imbalanced_real, synthetic_dir):
    cfg = tiny_config(
        imbalanced_real,
        synthetic_dir,
        repeats=1,
        sweep_label="synthetic per class",
        arms=[
            {"name": "real", "composition": "real", "sweep_value": 0},
            {"name": "mix 10", "composition": "mix", "synthetic_per_class": 10, "sweep_value": 10},
            {"name": "balance", "composition": "balance"},
            {"name": "pretrain", "composition": "pretrain", "pretrain_epochs": 1},
            {"name": "augment", "composition": "augment", "budget_of": "balance"},
        ],
    )
    cfg["model"]["epochs"] = 1
    run, result = run_experiment_here(cfg)
    assert run.status == "finished", run.error
    units = {p.parent.name: json.loads(p.read_text()) for p in run.path.glob("units/*/predictions.json")}
    sets = {k: json.loads((run.path / "units" / k / "training_set.json").read_text()) for k in units}
    real_counts = sets["real-r0"]["counts"]["real"]
    assert real_counts == {"benign": 21, "malignant": 10}  # 70% of 30 and of 15

    def syn(k):
        files = sets[k]["synthetic"]
        return {c: sum(f.startswith(c + "/") for f in files) for c in ("benign", "malignant")}

    assert syn("real-r0") == {"benign": 0, "malignant": 0}
    assert syn("mix-10-r0") == {"benign": 10, "malignant": 10}
    assert syn("balance-r0") == {"benign": 0, "malignant": 11}  # tops malignant up to 21
    assert syn("pretrain-r0") == {"benign": 30, "malignant": 30}
    # what the classifier composed equals the plan
    assert units["mix-10-r0"]["composition"]["train"]["synthetic"] == {"benign": 10, "malignant": 10}
    assert units["balance-r0"]["composition"]["train"]["real"] == real_counts
    stages = units["pretrain-r0"]["composition"]
    assert stages["pretrain"]["synthetic"] == {"benign": 30, "malignant": 30}
    assert stages["finetune"]["real"] == real_counts
    # augment: real images only, for as many presentations as 'balance' (42 images x 1 epoch / 31)
    assert syn("augment-r0") == {"benign": 0, "malignant": 0}
    assert units["augment-r0"]["unit"]["epochs"] == 1
    assert (
        json.loads((run.path / "units" / "augment-r0" / "config.json").read_text())["augment"]
        == "flip_rotate"
    )
    # every unit tested on the same images; the sweep lines start at the real-only arm
    assert len({tuple(u["test"]["files"]) for u in units.values()}) == 1
    assert result["sweep"]["series"]["synthetic"]["x"] == [0, 10]


def test_too_few_synthetic_images_is_refused_before_training(tmp_path, real_dir, synthetic_dir):
    cfg = tiny_config(
        real_dir,
        synthetic_dir,
        arms=[
            {"name": "real", "composition": "real"},
            {"name": "mix 500", "composition": "mix", "synthetic_per_class": 500},
        ],
    )
    run, _ = run_experiment_here(cfg)
    assert run.status == "failed" and "500 wanted, 30 in the folder" in run.error
    assert not (run.path / "units").exists()


def test_a_one_class_gan_folder_adds_only_its_class_and_cannot_stand_alone(tmp_path, real_dir):
    from simstudio.experiments.config import experiment_from_dict
    from simstudio.experiments.plan import prepare

    gan = write_folder(tmp_path / "gan", 12, seed=8, classes=("malignant",), prefix="g")
    cfg = tiny_config(
        real_dir,
        gan,
        arms=[
            {"name": "real", "composition": "real"},
            {"name": "+10 translated", "composition": "mix", "synthetic_per_class": 10},
        ],
    )
    prep = prepare(experiment_from_dict(cfg), tmp_path / "run")
    mix = next(u for u in prep.units if u.arm == "+10 translated")
    assert mix.counts["synthetic"] == {"benign": 0, "malignant": 10}
    cfg["arms"].append({"name": "gan only", "composition": "synthetic"})
    with pytest.raises(ValueError, match="'gan only' trains on malignant"):
        prepare(experiment_from_dict(cfg), tmp_path / "run2")
