"""Refined exports: FDA and SimGAN write the simulator's layout with every simulated parameter kept plus
how each image was refined; the folder loads as a synthetic source (dataset loader, experiment, mask
regeneration); it is byte-identical per seed; the fit-leakage guard sees the real images it read; the raw
export is never touched; the CLI does the same."""

import csv
import json

import numpy as np
import pytest
from experiment_data import tiny_config

from simstudio.data.dataset import load_dataset
from simstudio.experiments.refined_export import RefineConfig, refine_export
from simstudio.jobs import JobContext, execute_job
from simstudio.runs import new_run
from simstudio.sim.export import MANIFEST, MANIFEST_FIELDS, MARKER, ExportConfig, export_dataset

SIZE = 32


@pytest.fixture
def export_dir(tmp_path):
    out = tmp_path / "raw"
    export_dataset(ExportConfig(out=str(out), per_class=6, size=SIZE, seed=0, workers=1))
    return out


@pytest.fixture
def real_set(tmp_path):
    from experiment_data import write_folder

    return write_folder(tmp_path / "realset", 10, seed=4, prefix="real")


def rows(folder):
    with open(folder / MANIFEST, newline="") as fh:
        return list(csv.DictReader(fh))


def run_refine(config):
    run = new_run("refine", {})
    result = execute_job(run, refine_export, config, JobContext(run))
    assert run.status == "finished", run.error
    return run, result


def test_fda_export_keeps_every_parameter_and_names_the_real_image(export_dir, real_set, tmp_path):
    raw_before = {p.name: p.read_bytes() for p in export_dir.rglob("*.png")}
    out = tmp_path / "fda"
    run, result = run_refine(RefineConfig(synthetic=str(export_dir), out=str(out), method="fda",
                                          real=str(real_set), real_part="", beta=0.09, seed=3))
    src, dst = rows(export_dir), rows(out)
    assert [r["file"] for r in src] == [r["file"] for r in dst]
    for a, b in zip(src, dst, strict=True):
        assert all(a[f] == b[f] for f in MANIFEST_FIELDS)          # every simulated parameter kept
        assert b["refine_method"] == "fda" and float(b["fda_beta"]) == 0.09 and b["refine_seed"] == "3"
        assert (real_set / b["fda_real_image"]).is_file()
    assert {r["fda_real_image"].split("/")[0] for r in dst} == {"benign", "malignant"}  # any class
    ds = load_dataset(str(out))
    assert ds.classes == ["benign", "malignant"] and len(ds) == 12 and ds.size == SIZE
    raw = load_dataset(str(export_dir))
    assert not np.array_equal(ds.images, raw.images)
    assert {p.name: p.read_bytes() for p in export_dir.rglob("*.png")} == raw_before  # raw untouched
    assert (run.path / "before_after.png").is_file() and result["images"] == 12


def test_fda_export_is_byte_identical_per_seed(export_dir, real_set, tmp_path):
    outs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        run_refine(RefineConfig(synthetic=str(export_dir), out=str(tmp_path / name), method="fda",
                                real=str(real_set), real_part="", beta=0.05, seed=seed))
        outs.append({p.relative_to(tmp_path / name).as_posix(): p.read_bytes()
                     for p in sorted((tmp_path / name).rglob("*.png"))})
    assert outs[0] == outs[1] and outs[0] != outs[2]


def test_refined_export_masks_regenerate_and_the_guard_sees_the_real_images(export_dir, real_set, tmp_path):
    from simstudio.sim.export_masks import export_masks

    out = tmp_path / "fda"
    run_refine(RefineConfig(synthetic=str(export_dir), out=str(out), method="fda", real=str(real_set),
                            real_part="", beta=0.05))
    files = [r["file"] for r in rows(out)][:3]
    assert np.array_equal(export_masks(out, files), export_masks(export_dir, files))
    marker = json.loads((out / MARKER).read_text())
    prov = marker["preset"]["provenance"]
    assert prov["refined_by"] == "fda" and len(prov["real_sha1"]) == 20
    assert prov["base_provenance"] == json.loads((export_dir / MARKER).read_text())["preset"]["provenance"]


def test_a_refined_export_is_a_synthetic_source_and_the_guard_refuses_its_real_images(
        export_dir, real_set, tmp_path):
    from simstudio.experiments.config import experiment_from_dict
    from simstudio.experiments.plan import prepare

    out = tmp_path / "fda"
    run_refine(RefineConfig(synthetic=str(export_dir), out=str(out), method="fda", real=str(real_set),
                            real_part="", beta=0.05))
    cfg = experiment_from_dict(tiny_config(real_set, out, image_size=SIZE))
    with pytest.raises(ValueError, match="fitted to"):   # FDA read every real image, the test part too
        prepare(cfg, tmp_path / "exp")
    cfg = experiment_from_dict(tiny_config(real_set, out, image_size=SIZE, fit_overlap_ok=True))
    prep = prepare(cfg, tmp_path / "exp2")
    assert prep.fit_overlap and set(prep.synthetic["sim"].classes) == {"benign", "malignant"}
    assert sum(prep.units[1].counts["synthetic"].values()) == 12


def test_simgan_export_applies_a_trained_refiner(export_dir, real_set, tmp_path):
    from simstudio.train.refiner import refiner_config, train_refiner

    cfg = refiner_config(synthetic=str(export_dir), dataset=str(real_set), real_part="", image_size=SIZE,
                         nf=8, n_blocks=1, down=2, ndf=8, d_layers=2, batch_size=8, epochs=1,
                         steps_per_epoch=2, pretrain_refiner_steps=1, pretrain_d_steps=1, buffer_size=8,
                         eval_every=0, grid_size=8, device="cpu")
    train = new_run("refiner", {})
    execute_job(train, train_refiner, cfg, JobContext(train))
    assert train.status == "finished", train.error
    out = tmp_path / "refined"
    _, result = run_refine(RefineConfig(synthetic=str(export_dir), out=str(out), method="simgan",
                                        refiner=train.id, which="last", real=str(real_set),
                                        c2st_features="pixels", c2st_part=""))
    dst = rows(out)
    assert all(r["refine_method"] == "simgan" and r["refiner_run"] == train.id for r in dst)
    assert all(r["refiner_epoch"] == "1" for r in dst)
    assert len(load_dataset(str(out))) == 12
    c2st = result["c2st"]
    assert 0 <= c2st["before"]["auc"] <= 1 and 0 <= c2st["after"]["auc"] <= 1
    prov = json.loads((out / MARKER).read_text())["preset"]["provenance"]
    assert prov["refined_by"] == "simgan" and len(prov["real_sha1"]) == 20  # what the refiner trained on


def test_bad_input_is_refused_with_a_message(export_dir, tmp_path):
    from simstudio.experiments.refined_export import check_refine_config

    with pytest.raises(ValueError, match="simulated export"):
        check_refine_config(RefineConfig(synthetic=str(tmp_path), method="fda", real="x"))
    with pytest.raises(ValueError, match="trained refiner"):
        check_refine_config(RefineConfig(synthetic=str(export_dir), method="simgan"))
    with pytest.raises(ValueError, match="beta"):
        check_refine_config(RefineConfig(synthetic=str(export_dir), method="fda", real="x", beta=0.8))
    with pytest.raises(ValueError, match="new folder"):
        check_refine_config(RefineConfig(synthetic=str(export_dir), method="fda", real="x", out=str(export_dir)))


def test_cli_refines_with_fda(export_dir, real_set, tmp_path, capsys):
    from simstudio.cli import main

    out = tmp_path / "cli"
    code = main(["refine", "--method", "fda", "--synthetic", str(export_dir), "--real", str(real_set),
                 "--real-part", "", "--out", str(out), "--beta", "0.05"])
    assert code == 0
    assert "wrote 12 refined images" in capsys.readouterr().out
    assert len(rows(out)) == 12
    assert main(["refine", "--method", "fda", "--synthetic", str(tmp_path), "--real", "x",
                 "--out", str(tmp_path / "o")]) == 2


def test_fda_never_reads_a_real_label(export_dir, tmp_path):
    """The same real images under shuffled class folders give byte-identical FDA output."""
    from PIL import Image

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (10, SIZE, SIZE, 3), dtype=np.uint8)
    outs = []
    for trial, labels in enumerate((["benign"] * 5 + ["malignant"] * 5, list(rng.choice(["benign", "malignant"], 10)))):
        root = tmp_path / f"real{trial}"
        for i, (img, lab) in enumerate(zip(imgs, labels, strict=True)):
            (root / lab).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / lab / f"r{i}.png")
        out = tmp_path / f"fda{trial}"
        run_refine(RefineConfig(synthetic=str(export_dir), out=str(out), method="fda", real=str(root),
                                real_part="", beta=0.09, seed=5))
        outs.append({p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))})
    assert outs[0] == outs[1]
