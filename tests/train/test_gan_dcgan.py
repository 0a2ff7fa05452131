"""DCGAN training on tiny toy images (16 px): D learns to tell real from fake, checkpoints hold the full
state so a resumed run ends exactly where an uninterrupted one does, NaN stops training and keeps the
last good checkpoint, cancel keeps a loadable checkpoint, and the job writes samples, a progression
strip, fidelity numbers and warnings."""

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from simstudio.jobs import JobContext, execute_job
from simstudio.runs import new_run
from simstudio.train.dcgan import dcgan_config, fit_dcgan, train_dcgan
from simstudio.train.diffaugment import diff_augment
from simstudio.train.gan_checkpoints import load_gan_checkpoint


def toy(n, size=16, seed=0, colour=(230, 180, 40)):
    """A bright square at a random place on a dark background."""
    rng = np.random.default_rng(seed)
    x = np.full((n, size, size, 3), 20, np.uint8)
    for i in range(n):
        r, c = rng.integers(0, size - 6, 2)
        x[i, r:r + 6, c:c + 6] = colour
    return x


def tiny(**kw):
    base = dict(image_size=16, ngf=8, ndf=8, batch_size=16, epochs=2, eval_every=0, grid_size=8, device="cpu")
    return dcgan_config(**{**base, **kw})


def run_fit(config, images, run=None, key="toy", **kw):
    run = run or new_run("gan", config)
    result = execute_job(run, lambda c, ctx: fit_dcgan(images, c, ctx, key=key, **kw), config,
                         JobContext(run))
    return run, result


def write_folder(root, classes, n=16, size=16):
    for i, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        colour = [(230, 180, 40), (40, 90, 220), (200, 40, 40)][i]
        for j, img in enumerate(toy(n, size, seed=i, colour=colour)):
            Image.fromarray(img).save(root / c / f"{c}_{j}.png")
    return root


def test_a_few_steps_move_d_of_x_up_and_d_of_g_of_z_down():
    ctx = JobContext.local()
    events = []
    ctx.on_event = events.append
    fit_dcgan(toy(32), tiny(ndf=16, epochs=10, lr=1e-3, log_every=1), ctx)
    m = [e for e in events if e["type"] == "metric"]
    assert len(m) == 20
    first_dx, last_dx = np.mean([e["d_x"] for e in m[:2]]), np.mean([e["d_x"] for e in m[-4:]])
    first_dgz, last_dgz = np.mean([e["d_g_z"] for e in m[:2]]), np.mean([e["d_g_z"] for e in m[-4:]])
    assert last_dx > first_dx + 0.15
    assert last_dgz < first_dgz - 0.05


def test_resumed_training_ends_exactly_where_uninterrupted_training_does():
    images = toy(40)
    straight, _ = run_fit(tiny(epochs=2), images)
    interrupted, _ = run_fit(tiny(epochs=1), images)
    first = load_gan_checkpoint(interrupted.path / "checkpoints" / "toy" / "last.pt")
    assert first["epoch"] == 1 and first["step"] == 3
    run_fit(tiny(epochs=2), images, run=interrupted)  # Resume: the same run, more epochs
    a = load_gan_checkpoint(straight.path / "checkpoints" / "toy" / "last.pt")
    b = load_gan_checkpoint(interrupted.path / "checkpoints" / "toy" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2 and a["step"] == b["step"] == 6
    for net in ("G", "D"):  # weights and batch-norm running statistics
        for k, v in a["nets"][net].items():
            assert torch.allclose(v.float(), b["nets"][net][k].float(), atol=1e-6), (net, k)
    exp_a = a["optimizers"]["G"]["state"][0]["exp_avg"]
    assert torch.allclose(exp_a, b["optimizers"]["G"]["state"][0]["exp_avg"], atol=1e-7)
    assert torch.equal(a["rng"]["data"], b["rng"]["data"])
    assert "resuming after epoch 1" in " ".join(e["message"] for e in interrupted.events("log"))


def test_checkpoint_is_plain_data_with_the_full_training_state():
    run, result = run_fit(tiny(epochs=1), toy(20))
    ckpt = torch.load(run.path / "checkpoints" / "toy" / "last.pt", weights_only=True)
    assert {"nets", "optimizers", "rng", "epoch", "step", "fixed_noise", "arch", "config"} <= set(ckpt)
    assert ckpt["model"] == "dcgan" and ckpt["class_name"] == "toy" and ckpt["arch"]["image_size"] == 16
    assert ckpt["fixed_noise"].shape == (8, 100, 1, 1)


def test_nan_stops_training_and_keeps_the_last_good_checkpoint():
    images = toy(32)
    run, _ = run_fit(tiny(epochs=1), images)
    good = load_gan_checkpoint(run.path / "checkpoints" / "toy" / "last.pt")
    _, result = run_fit(tiny(epochs=3, lr=1e30, log_every=1), images, run=run)  # resumed with an absurd lr
    assert "NaN" in result["diverged"] and result["epochs"] == 1
    warning = [e for e in run.events("warning") if e["kind"] == "nan"]
    assert warning and "last good checkpoint (epoch 1)" in warning[0]["message"]
    kept = load_gan_checkpoint(run.path / "checkpoints" / "toy" / "last.pt")
    assert kept["epoch"] == 1
    assert all(torch.isfinite(v.float()).all() for v in kept["nets"]["G"].values())
    assert torch.equal(kept["nets"]["G"]["main.0.weight"], good["nets"]["G"]["main.0.weight"])


def test_cancel_keeps_the_last_finished_epoch_and_resume_finishes():
    images = toy(32)
    config = tiny(epochs=4)
    run = new_run("gan", config)
    cancel = threading.Event()

    def on_event(e):
        if e["type"] == "checkpoint" and e["epoch"] == 2:
            cancel.set()

    ctx = JobContext(run, cancel_event=cancel, on_event=on_event)
    execute_job(run, lambda c, ctx: fit_dcgan(images, c, ctx, key="toy"), config, ctx)
    assert run.status == "cancelled"
    assert load_gan_checkpoint(run.path / "checkpoints" / "toy" / "last.pt")["epoch"] == 2
    result = execute_job(run, lambda c, ctx: fit_dcgan(images, c, ctx, key="toy"), config, JobContext(run))
    assert run.status == "finished" and result["epochs"] == 4
    progress = [e for e in run.events("progress") if e.get("total")]
    assert progress[-1]["done"] == progress[-1]["total"] == 8


def test_collapse_warnings_for_a_winning_d_and_for_alike_samples():
    ctx = JobContext.local()
    events = []
    ctx.on_event = events.append
    # thresholds chosen so this short run trips both: D loss "near zero" below 10, for 2 steps
    fit_dcgan(toy(32), tiny(epochs=3, collapse_d_loss=10.0, collapse_patience=2, log_every=1), ctx)
    kinds = {e["kind"] for e in events if e["type"] == "warning"}
    assert "collapse" in kinds
    assert "diversity" in kinds  # three epochs leave G's samples far less varied than the real ones


def test_job_trains_one_model_per_class_with_samples_strip_fidelity_and_eta(tmp_path):
    folder = write_folder(tmp_path / "real", ["mel", "nev"])
    config = tiny(dataset=str(folder), epochs=2, eval_every=1, eval_samples=16)
    run = new_run("gan", config)
    result = execute_job(run, train_dcgan, config, JobContext(run))
    assert run.status == "finished", run.error
    assert set(result["models"]) == {"mel", "nev"} and result["model"] == "dcgan"
    for c in ("mel", "nev"):
        assert (run.path / "checkpoints" / c / "last.pt").is_file()
        assert (run.path / "checkpoints" / c / "best.pt").is_file()
        strip = Image.open(run.path / "samples" / c / "progression.png")
        assert strip.size[1] > 2 * 16  # one row per epoch
        assert result["models"][c]["best"]["feature_space"] == "pixels"
    images = run.events("image")
    assert [e["epoch"] for e in images if e["model"] == "mel"] == [1, 2]
    assert (run.path / images[0]["path"]).is_file()
    fidelity = run.events("fidelity")
    assert len(fidelity) == 4
    assert {"kid", "fid", "feature_space", "resize", "n_real", "n_fake", "fid_reliable"} <= set(fidelity[0])
    assert fidelity[0]["n_real"] == 16 and fidelity[0]["fid_reliable"] is False
    progress = [e for e in run.events("progress") if e.get("eta_s") is not None]
    assert progress and progress[-1]["done"] == progress[-1]["total"] == 4
    assert all(e["images_per_s"] > 0 for e in progress)


def test_a_chosen_class_trains_alone(tmp_path):
    folder = write_folder(tmp_path / "real", ["mel", "nev"])
    config = tiny(dataset=str(folder), classes=["mel"], epochs=1)
    run = new_run("gan", config)
    result = execute_job(run, train_dcgan, config, JobContext(run))
    assert list(result["models"]) == ["mel"]
    assert not (run.path / "checkpoints" / "nev").exists()


def test_bad_settings_are_refused_before_training(tmp_path):
    folder = write_folder(tmp_path / "real", ["mel", "nev"], n=4)
    with pytest.raises(ValueError, match="image size must be one of"):
        train_dcgan(tiny(dataset=str(folder), image_size=48))
    with pytest.raises(ValueError, match="class\\(es\\) bcc not in the dataset"):
        train_dcgan(tiny(dataset=str(folder), classes=["bcc"]))
    with pytest.raises(ValueError, match="unknown DiffAugment op"):
        train_dcgan(tiny(dataset=str(folder), diffaugment="color,zoom"))
    with pytest.raises(ValueError, match="unknown preset"):
        dcgan_config("gpu-9000")


def test_diffaugment_keeps_shape_passes_gradients_and_trains():
    torch.manual_seed(0)
    x = (torch.rand(6, 3, 16, 16) * 2 - 1).requires_grad_(True)
    y = diff_augment(x, "color,translation,cutout")
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    ones = torch.ones(4, 3, 16, 16)
    cut = diff_augment(ones, "cutout")
    zeroed = (cut == 0).float().mean(dim=(1, 2, 3))
    assert ((zeroed > 0) & (zeroed <= 0.25)).all()  # one half-side square each, clipped at the border
    assert torch.equal(diff_augment(x, ""), x)
    ctx = JobContext.local()
    fit_dcgan(toy(16), tiny(epochs=1, diffaugment="color,translation,cutout"), ctx)
    assert ctx.latest["metric"]["loss_d"] > 0
