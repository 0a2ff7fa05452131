"""Generation and the GAN command line: generated folders load as a synthetic source, each manifest row
regenerates its image from its seed, CycleGANs translate a real folder, and train-gan / generate /
fidelity work end to end (with one-line errors for bad input)."""

import csv

import numpy as np
import pytest
from PIL import Image

from simstudio.cli import main
from simstudio.data.dataset import load_dataset
from simstudio.jobs import JobContext, execute_job
from simstudio.runs import list_runs, new_run
from simstudio.train.dcgan import dcgan_config, train_dcgan
from simstudio.train.generate import class_generators, generate_images

COLOURS = {"mel": (230, 180, 40), "nev": (40, 90, 220)}


def write_folder(root, n=12, size=16):
    rng = np.random.default_rng(0)
    for c, colour in COLOURS.items():
        (root / c).mkdir(parents=True)
        for j in range(n):
            x = np.full((size, size, 3), 20, np.uint8)
            r, k = rng.integers(0, size - size // 3, 2)
            x[r:r + size // 3, k:k + size // 3] = colour
            Image.fromarray(x).save(root / c / f"{c}_{j}.png")
    return root


@pytest.fixture
def dcgan_run(tmp_path):
    folder = write_folder(tmp_path / "real")
    config = dcgan_config(dataset=str(folder), image_size=16, ngf=8, ndf=8, batch_size=8, epochs=1,
                          eval_every=1, eval_samples=8, grid_size=8, device="cpu")
    run = new_run("gan", config)
    execute_job(run, train_dcgan, config, JobContext(run))
    assert run.status == "finished", run.error
    return run


def test_generated_folder_loads_as_a_synthetic_source_with_a_manifest(dcgan_run, tmp_path):
    out = tmp_path / "synthetic"
    result = generate_images({"checkpoint": dcgan_run.id, "out": str(out), "per_class": 5, "seed": 100,
                              "device": "cpu", "batch_size": 3})
    assert result["counts"] == {"mel": 5, "nev": 5} and result["images_per_s"] > 0
    data = load_dataset(out)
    assert data.classes == ["mel", "nev"] and len(data.files) == 10 and data.size == 16
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and set(rows[0]) >= {"file", "class", "generator", "run", "checkpoint", "seed"}
    assert {r["run"] for r in rows} == {dcgan_run.id} and {r["generator"] for r in rows} == {"dcgan"}
    assert sorted(int(r["seed"]) for r in rows if r["class"] == "mel") == [100, 101, 102, 103, 104]
    # any row regenerates its image exactly, whatever batch it was made in
    row = next(r for r in rows if r["class"] == "nev" and r["seed"] == "103")
    again = class_generators(dcgan_run.id, "best", "cpu")["nev"].sample(np.array([103]))[0]
    np.testing.assert_array_equal(np.asarray(Image.open(out / row["file"])), again)


def test_output_folder_must_be_new_or_empty(dcgan_run, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        generate_images({"checkpoint": dcgan_run.id, "out": str(tmp_path / "busy"), "per_class": 1})
    with pytest.raises(ValueError, match="make mel, nev, not bcc"):
        generate_images({"checkpoint": dcgan_run.id, "out": str(tmp_path / "new"), "classes": ["bcc"]})


def test_cyclegan_translates_a_real_folder(tmp_path):
    from simstudio.train.cyclegan import cyclegan_config, train_cyclegan

    folder = write_folder(tmp_path / "real", n=6, size=32)
    config = cyclegan_config(dataset=str(folder), x_class="nev", y_class="mel", image_size=32, ngf=4, ndf=4,
                             n_blocks=1, batch_size=3, epochs=1, epochs_decay=0, eval_every=0, device="cpu")
    run = new_run("gan", config)
    execute_job(run, train_cyclegan, config, JobContext(run))
    out = tmp_path / "translated"
    result = generate_images({"checkpoint": run.id, "out": str(out), "translate": str(folder), "per_class": 0,
                              "which": "last", "device": "cpu"})
    assert result["counts"] == {"mel": 6}
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(r["source"].endswith(".png") and "/nev/" in r["source"] for r in rows)
    assert load_dataset(out).classes == ["mel"]
    with pytest.raises(ValueError, match="give images to translate"):
        generate_images({"checkpoint": run.id, "out": str(tmp_path / "n"), "per_class": 2, "which": "last"})


def test_cli_train_gan_generate_and_fidelity(tmp_path, capsys):
    folder = write_folder(tmp_path / "real", n=8)
    assert main(["train-gan", "--model", "dcgan", "--dataset", str(folder), "--classes", "mel",
                 "--preset", "cpu-32", "--image-size", "16", "--epochs", "1", "--eval-samples", "8",
                 "--device", "cpu"]) == 0
    run = list_runs("gan")[0]
    assert run.config["preset"] == "cpu-32" and run.config["ngf"] == 16 and run.config["classes"] == ["mel"]
    assert "mel: 1 epochs" in capsys.readouterr().out
    # resume a finished run: nothing left to train, it stays finished
    assert main(["train-gan", "--resume", run.id]) == 0
    out = tmp_path / "gen"
    assert main(["generate", run.id, "--per-class", "4", "--out", str(out), "--device", "cpu"]) == 0
    assert "wrote 4 images (mel: 4)" in capsys.readouterr().out
    assert main(["fidelity", str(folder), str(out), "--features", "pixels", "--classes", "mel",
                 "--json"]) == 0
    printed = capsys.readouterr().out
    report = __import__("json").loads(printed[printed.index("{"):])
    assert report["feature_space"] == "pixels" and report["n_real"] == 8 and report["n_fake"] == 4
    assert main(["fidelity", str(folder), str(out), "--features", "pixels"]) == 0
    assert "FID is unreliable below 2,048 images" in capsys.readouterr().out


def test_cli_bad_input_is_one_line(tmp_path, capsys, monkeypatch):
    folder = write_folder(tmp_path / "real", n=2)
    assert main(["train-gan", "--model", "dcgan"]) == 2
    assert "give --real" in capsys.readouterr().err
    assert main(["train-gan", "--model", "dcgan", "--dataset", str(folder), "--image-size", "48"]) == 2
    assert "image size must be one of" in capsys.readouterr().err
    assert main(["train-gan", "--model", "dcgan", "--dataset", str(folder), "--x-class", "nev"]) == 2
    assert "dcgan" in capsys.readouterr().err
    assert main(["generate", "no-such-run", "--out", str(tmp_path / "o")]) == 2
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    monkeypatch.setenv("SIMSTUDIO_OFFLINE", "1")
    assert main(["fidelity", str(folder), str(folder)]) == 2
    assert "Inception-v3 weights are not available offline" in capsys.readouterr().err
