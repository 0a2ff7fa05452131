"""SimGAN refiner training: the self-regularisation term keeps refined images near their input, a resumed
run ends exactly where an uninterrupted one does, the refiner never reads a class label (shuffling the
real labels changes nothing), a NaN stops training with the last good checkpoint kept, the mask-consistency
term and IoU report work on a real simulator export, and the checkpoint is plain data."""

import numpy as np
import pytest
import torch
from PIL import Image

from simstudio.jobs import JobContext, execute_job
from simstudio.runs import new_run
from simstudio.train.gan_checkpoints import load_gan_checkpoint
from simstudio.train.refiner import (
    fit_refiner,
    load_refiner,
    mask_consistency_loss,
    refine_images,
    refiner_config,
    train_refiner,
)

SIZE = 32


def toy_sim(n, seed=0):
    """Grey skin with a dark square lesion (the 'simulated' look)."""
    rng = np.random.default_rng(seed)
    x = np.full((n, SIZE, SIZE, 3), 150, np.uint8)
    for i in range(n):
        r, c = rng.integers(4, SIZE - 14, 2)
        x[i, r:r + 10, c:c + 10] = 60
    return x


def toy_real(n, seed=1):
    """Pink, noisy skin with a brown lesion (the 'real' look)."""
    rng = np.random.default_rng(seed)
    x = rng.normal((215, 150, 150), 12, (n, SIZE, SIZE, 3))
    for i in range(n):
        r, c = rng.integers(4, SIZE - 14, 2)
        x[i, r:r + 10, c:c + 10] = (110, 60, 40)
    return np.clip(x, 0, 255).astype(np.uint8)


def tiny(**kw):
    base = dict(image_size=SIZE, nf=8, n_blocks=1, down=2, ndf=8, d_layers=2, batch_size=8, epochs=2,
                steps_per_epoch=3, pretrain_refiner_steps=2, pretrain_d_steps=2, buffer_size=16,
                eval_every=0, grid_size=8, device="cpu", log_every=2)
    return refiner_config(**{**base, **kw})


def run_fit(config, sim, real, run=None, **kw):
    run = run or new_run("refiner", {})
    result = execute_job(run, lambda c, ctx: fit_refiner(sim, real, c, ctx, **kw), config, JobContext(run))
    return run, result


def distance_levels(run, sim):
    R, _ = load_refiner(str(run.path / "checkpoints" / "refiner" / "last.pt"))
    return float(np.abs(refine_images(R, sim).astype(float) - sim.astype(float)).mean())


def test_l1_self_regularisation_keeps_refined_images_near_their_input():
    sim, real = toy_sim(32), toy_real(32)
    free, _ = run_fit(tiny(lambda_reg=0.0, lr=2e-3, epochs=3, steps_per_epoch=6), sim, real)
    held, _ = run_fit(tiny(lambda_reg=200.0, lr=2e-3, epochs=3, steps_per_epoch=6), sim, real)
    d_free, d_held = distance_levels(free, sim), distance_levels(held, sim)
    assert d_held < 3.0          # within 3 grey levels (of 255) on average
    assert d_free > 2 * d_held   # and it is the L1 term that holds it there


def test_resumed_training_ends_exactly_where_uninterrupted_training_does():
    sim, real = toy_sim(24), toy_real(20)
    straight, _ = run_fit(tiny(epochs=2), sim, real)
    interrupted, _ = run_fit(tiny(epochs=1), sim, real)
    first = load_gan_checkpoint(interrupted.path / "checkpoints" / "refiner" / "last.pt")
    assert first["epoch"] == 1 and first["step"] == 3
    run_fit(tiny(epochs=2), sim, real, run=interrupted)
    a = load_gan_checkpoint(straight.path / "checkpoints" / "refiner" / "last.pt")
    b = load_gan_checkpoint(interrupted.path / "checkpoints" / "refiner" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2 and a["step"] == b["step"] == 6
    for net in ("R", "D"):
        for k, v in a["nets"][net].items():
            assert torch.equal(v, b["nets"][net][k]), (net, k)
    assert torch.equal(a["buffer"], b["buffer"]) and len(a["buffer"]) == 16
    assert torch.equal(a["optimizers"]["R"]["state"][0]["exp_avg"], b["optimizers"]["R"]["state"][0]["exp_avg"])
    assert "resuming after epoch 1" in " ".join(e["message"] for e in interrupted.events("log"))


def test_checkpoint_is_plain_data_with_the_full_state():
    run, _ = run_fit(tiny(epochs=1), toy_sim(16), toy_real(16))
    ckpt = torch.load(run.path / "checkpoints" / "refiner" / "last.pt", weights_only=True)
    assert {"nets", "optimizers", "buffer", "rng", "epoch", "step", "arch", "config"} <= set(ckpt)
    assert ckpt["model"] == "simgan" and ckpt["arch"]["image_size"] == SIZE
    metrics = run.events("metric")
    assert metrics and {"loss_d", "loss_g", "loss_reg"} <= set(metrics[-1])
    assert run.events("progress") and (run.path / "samples" / "refiner" / "progression.png").is_file()


def test_nan_stops_training_and_keeps_the_last_good_checkpoint():
    sim, real = toy_sim(16), toy_real(16)
    run, _ = run_fit(tiny(epochs=1), sim, real)
    _, result = run_fit(tiny(epochs=3, lr=1e30, log_every=1), sim, real, run=run)
    assert "NaN" in result["diverged"] and result["epochs"] == 1
    kept = load_gan_checkpoint(run.path / "checkpoints" / "refiner" / "last.pt")
    assert kept["epoch"] == 1 and all(torch.isfinite(v).all() for v in kept["nets"]["R"].values())


def write_images(root, images, labels, names):
    for img, lab, name in zip(images, labels, names, strict=True):
        (root / lab).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / lab / name)


def test_the_refiner_never_reads_a_label(tmp_path):
    """The same images under shuffled class folders (real and simulated) give the very same refiner."""
    sim, real = toy_sim(12), toy_real(12)
    rng = np.random.default_rng(0)
    names_s = [f"s{i:02d}.png" for i in range(12)]
    names_r = [f"r{i:02d}.png" for i in range(12)]
    checkpoints = []
    for trial in range(2):
        labels_s = rng.choice(["benign", "malignant"], 12) if trial else np.repeat(["benign", "malignant"], 6)
        labels_r = rng.choice(["benign", "malignant"], 12) if trial else np.repeat(["benign", "malignant"], 6)
        write_images(tmp_path / f"sim{trial}", sim, labels_s, names_s)
        write_images(tmp_path / f"real{trial}", real, labels_r, names_r)
        cfg = tiny(synthetic=str(tmp_path / f"sim{trial}"), dataset=str(tmp_path / f"real{trial}"), real_part="")
        run = new_run("refiner", {})
        execute_job(run, train_refiner, cfg, JobContext(run))
        assert run.status == "finished", run.error
        checkpoints.append(load_gan_checkpoint(run.path / "checkpoints" / "refiner" / "last.pt"))
    a, b = checkpoints
    for k, v in a["nets"]["R"].items():
        assert torch.equal(v, b["nets"]["R"][k]), k
    assert torch.equal(a["buffer"], b["buffer"])


def test_mask_consistency_is_low_for_a_kept_lesion_and_high_for_a_lost_one():
    sim = torch.from_numpy(toy_sim(4)).permute(0, 3, 1, 2).float() / 127.5 - 1
    mask = (sim.mean(1, keepdim=True) < -0.2).float()
    kept = mask_consistency_loss(sim - 0.1, sim, mask)      # darker overall, lesion still there
    lost = mask_consistency_loss(torch.full_like(sim, 0.2), sim, mask)  # lesion painted over
    assert kept < 0.1 < 0.5 < lost


@pytest.fixture
def tiny_export(tmp_path):
    from simstudio.sim.export import ExportConfig, export_dataset

    out = tmp_path / "export"
    export_dataset(ExportConfig(out=str(out), per_class=8, size=SIZE, seed=0, workers=1))
    return out


def test_mask_consistency_trains_on_an_export_and_the_iou_is_reported(tiny_export, tmp_path):
    write_images(tmp_path / "real", toy_real(12), ["a"] * 6 + ["b"] * 6, [f"r{i}.png" for i in range(12)])
    cfg = tiny(synthetic=str(tiny_export), dataset=str(tmp_path / "real"), real_part="", lambda_mask=1.0,
               eval_every=1, eval_samples=8)
    run = new_run("refiner", {})
    result = execute_job(run, train_refiner, cfg, JobContext(run))
    assert run.status == "finished", run.error
    iou = run.events("mask_iou")
    assert iou and 0 <= iou[-1]["refined"] <= 1 and iou[-1]["n"] == 8
    assert "loss_mask" in run.events("metric")[-1]
    assert result["models"]["refiner"]["mask_iou"]["raw"] > 0.3  # the segmenter finds simulated lesions
    assert run.events("fidelity")  # KID in the chosen space (pixels here) every eval_every epochs
    assert (run.path / "checkpoints" / "refiner" / "best.pt").is_file()


def test_bad_settings_are_refused_before_any_work():
    from simstudio.train.refiner import check_refiner_config

    with pytest.raises(ValueError, match="image size"):
        check_refiner_config(tiny(image_size=48))
    with pytest.raises(ValueError, match="lambda_reg"):
        check_refiner_config(tiny(lambda_reg=-1))
    with pytest.raises(ValueError, match="synthetic"):
        train_refiner(tiny(), JobContext.local())
