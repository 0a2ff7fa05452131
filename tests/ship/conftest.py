"""A tiny classifier trained only on a tiny simulated export, tested on a second simulated folder standing
in for real images (tests never read the real data), shared by the predict and publish tests."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(training run, its simulated export folder): smallcnn, 32 px, 2 epochs of a few steps."""
    import torch

    from simstudio.jobs import run_in_foreground
    from simstudio.sim.export import ExportConfig, export_dataset
    from simstudio.train.classifier import ClassifierConfig, train_classifier

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    sim = root / "sim"
    export_dataset(ExportConfig(out=str(sim), per_class=12, size=32, preset="fitted-derm-real", seed=3, workers=1))
    stand_in = root / "stand-in-real"
    export_dataset(ExportConfig(out=str(stand_in), per_class=10, size=32, preset="default-binary", seed=4,
                                workers=1))
    config = ClassifierConfig(real=str(stand_in), synthetic=str(sim), mode="synthetic", image_size=32, epochs=2,
                              batch_size=8, optimizer="adam", lr=3e-3, schedule="constant", augment="none",
                              val_fraction=0.0, select_best=False, device="cpu", seed=0)
    run, result = run_in_foreground("train", train_classifier, config, echo=False, root=root / "runs")
    assert result is not None, run.error
    return run, sim


@pytest.fixture
def example_image(tmp_path) -> Path:
    """One simulated lesion at 48 px (not the model's side, so predict must resize it)."""
    from simstudio.eval.predict import write_png
    from simstudio.sim.export import render_image
    from simstudio.sim.presets import load_preset

    rgb = render_image(load_preset("fitted-derm-real"), "malignant", 11, 48)[0]
    return write_png(tmp_path / "lesion.png", rgb)
