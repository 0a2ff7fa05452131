"""Simulator presets as synthetic sources: the experiment exports them itself (once, into a cache shared by
runs), tests on the split saved with the dataset when asked, and refuses a preset that was fitted to any
of its test images (the issue-7 proof must be measured on real images the fit never saw)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from experiment_data import tiny_config

from simstudio.data.importer import ImportConfig, import_dataset
from simstudio.data.preprocess import Preprocessing
from simstudio.experiments.config import load_preset as load_experiment_preset
from simstudio.experiments.runner import run_experiment_here
from simstudio.jobs import run_in_foreground
from simstudio.runs import runs_root
from simstudio.sim.export import ExportConfig, export_dataset
from simstudio.sim.presets import default_preset, load_preset, preset_names, save_preset


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _config(real, preset=None, **overrides):
    """The tiny two-arm experiment with a preset source named 'sim' (12 images per class at 32 px)."""
    cfg = tiny_config(real, repeats=1, **overrides)
    if preset is not None:
        cfg["synthetic"] = [{"name": "sim", "preset": str(preset), "per_class": 12, "size": 32}]
    return cfg


@pytest.fixture
def real_run(real_dir):
    """The tiny real folder imported with a saved 60/20/20 split (what a simulator fit reads)."""
    config = ImportConfig(source=str(real_dir), preprocessing=Preprocessing(size=16), split="60/20/20", seed=0)
    run, result = run_in_foreground("dataset", import_dataset, config.validated(), echo=False)
    assert run.status == "finished", run.error
    return run


def _fitted_to(real_run, parts, tmp_path) -> Path:
    """The default preset with the provenance a fit to `parts` of the dataset's split writes."""
    rows = [line.split(",") for line in (real_run.path / "split.csv").read_text().splitlines()[1:]]
    root = Path(real_run.read_json("dataset.json")["root"])
    seen = sorted(_sha1(root / f)[:12] for f, _cls, part, *_ in rows if part in parts)
    preset = default_preset()
    preset.name = "fitted-tiny"
    preset.provenance = {"dataset": real_run.id, "parts": list(parts), "real_sha1": seen}
    return save_preset(preset, tmp_path / "fitted-tiny.json")


def test_a_preset_source_is_simulated_once_and_reused(tmp_path, real_dir):
    cfg = _config(real_dir, "default-binary")
    run, result = run_experiment_here(cfg)
    assert run.status == "finished", run.error
    folder = Path(run.read_json("plan.json")["synthetic"]["sim"]["path"])
    assert folder.parent == runs_root() / "cache" / "simulated"
    pngs = sorted(folder.glob("*/*.png"))
    assert len(pngs) == 24 and (folder / "manifest.csv").is_file()
    assert result["arms"][1]["train_counts"]["synthetic"] == {"benign": 12, "malignant": 12}
    before = {p: p.stat().st_mtime_ns for p in pngs}
    run2, _ = run_experiment_here(cfg)
    assert run2.status == "finished", run2.error
    assert {p: p.stat().st_mtime_ns for p in sorted(folder.glob("*/*.png"))} == before  # not drawn again
    assert not any("simulating" in e.get("message", "") for e in run2.events("log"))


def test_two_experiments_needing_the_same_preset_images_at_once_export_them_once():
    # A plain and a colour-constancy proof started together both ask for the built-in preset's images: the
    # second waits for the first's export and reuses it instead of renaming its files away mid-write.
    from concurrent.futures import ThreadPoolExecutor

    from simstudio.experiments.config import SyntheticSource
    from simstudio.experiments.plan import simulate_source
    from simstudio.jobs import JobContext

    src = SyntheticSource(name="sim", preset="default-binary", per_class=40, size=32, seed=3)
    logs: list[list[str]] = [[], []]

    def one(k):
        return simulate_source(src, JobContext(on_event=lambda e: logs[k].append(e.get("message", ""))))

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(one, [0, 1])
    assert a == b and (a / "manifest.csv").is_file()
    assert len(sorted(a.glob("*/*.png"))) == 80
    assert sum("simulating" in line for log in logs for line in log) == 1


def test_shipped_presets_load_by_name_and_an_unknown_name_lists_them():
    assert {"default-binary", "fitted-derm-real"} <= set(preset_names())
    fitted = load_preset("fitted-derm-real")
    assert fitted.mode == "fair" and len(fitted.provenance["real_sha1"]) == 1176
    with pytest.raises(ValueError, match="fitted-derm-real"):
        load_preset("no-such-preset")


def test_a_preset_fitted_to_the_test_images_is_refused(tmp_path, real_run):
    fitted = _fitted_to(real_run, ("train", "val"), tmp_path)
    # On the dataset's own split the fit never saw the test part: the experiment runs.
    ok, _ = run_experiment_here(_config(real_run.id, fitted, split="dataset"))
    assert ok.status == "finished", ok.error
    saved = (real_run.path / "split.csv").read_text().splitlines()
    assert sorted((ok.path / "split.csv").read_text().splitlines()[1:]) == sorted(saved[1:])
    # A fresh split puts images the fit read into the test part: refused before any training.
    bad, result = run_experiment_here(_config(real_run.id, fitted))
    assert bad.status == "failed" and result is None
    assert "fitted to" in bad.error and "'sim'" in bad.error and real_run.id in bad.error
    assert not (bad.path / "units").exists()
    # A preset fitted from a fitted preset carries the first fit's images in its history: refused too.
    refit = load_preset(fitted)
    refit.provenance = {"dataset": "elsewhere", "parts": ["val"], "real_sha1": [],
                        "base_provenance": refit.provenance}
    refit_path = save_preset(refit, tmp_path / "refit.json")
    bad3, _ = run_experiment_here(_config(real_run.id, refit_path))
    assert bad3.status == "failed" and "fitted to" in bad3.error
    # The same preset exported by hand into a folder is caught by the folder's export record.
    folder = tmp_path / "exported"
    export_dataset(ExportConfig(out=str(folder), per_class=12, size=32, preset=str(fitted), workers=1))
    bad2, _ = run_experiment_here(tiny_config(real_run.id, folder, repeats=1))
    assert bad2.status == "failed" and "fitted to" in bad2.error
    # Tuning on the fit's own images is allowed only when asked, and then every result says so.
    tuning, result = run_experiment_here(tiny_config(real_run.id, folder, repeats=1, fit_overlap_ok=True))
    assert tuning.status == "finished", tuning.error
    assert any(w.startswith("tuning run, not a result") for w in result["warnings"])


def test_split_dataset_needs_a_saved_split(real_dir):
    run, _ = run_experiment_here(_config(real_dir, "default-binary", split="dataset"))
    assert run.status == "failed" and "no saved split" in run.error


def test_the_proof_preset_compares_before_and_after_fitting_on_the_datasets_split():
    cfg = load_experiment_preset("sim_only_vs_real")
    assert cfg.split == "dataset" and cfg.repeats >= 3
    assert [a.composition for a in cfg.arms] == ["real", "synthetic", "synthetic"]
    presets = {s.name: s.preset for s in cfg.synthetic}
    assert load_preset(presets["after fitting"]).provenance["objective"]
    assert load_preset(presets["before fitting"]).mode == load_preset(presets["after fitting"]).mode == "fair"


def test_colour_constancy_neutralises_every_image_the_arms_see(tmp_path, real_dir, synthetic_dir):
    from simstudio.experiments import plan as plan_mod
    from simstudio.experiments.config import experiment_from_dict

    def cast(prep_ds):
        x = np.asarray(prep_ds.images, np.float64) / 255
        norm = (x.reshape(len(x), -1, 3) ** 6).mean(1) ** (1 / 6)  # the Shades-of-Gray illuminant
        return np.abs(norm / norm.mean(1, keepdims=True) - 1).max()

    from PIL import Image

    for png in [*real_dir.glob("*/*.png"), *synthetic_dir.glob("*/*.png")]:  # a pink camera cast
        x = np.asarray(Image.open(png), np.float64) * (1.0, 0.75, 0.8)
        Image.fromarray(x.astype(np.uint8)).save(png)
    cfg = tiny_config(real_dir, synthetic_dir, repeats=1)
    plain = plan_mod.prepare(experiment_from_dict(cfg), tmp_path / "a")
    neutral = plan_mod.prepare(experiment_from_dict({**cfg, "colour_constancy": True}), tmp_path / "b")
    assert cast(plain.real) > 0.1 and cast(plain.synthetic["sim"]) > 0.1  # skin-coloured test images
    assert cast(neutral.real) < 0.02 and cast(neutral.synthetic["sim"]) < 0.02
    assert neutral.real.hashes == plain.real.hashes  # the guards still compare the source files
