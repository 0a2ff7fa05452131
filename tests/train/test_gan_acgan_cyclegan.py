"""ACGAN and CycleGAN training on tiny toy images: the class head learns, CycleGAN's losses and pools are
in its checkpoint and it resumes, the Path-Rank-Filter keeps exactly the top α by a real classifier's
confidence, and the ACGAN → per-class CycleGAN chain trains and generates."""

import numpy as np
import pytest
from PIL import Image

from simstudio.jobs import JobContext, execute_job
from simstudio.runs import new_run
from simstudio.train.acgan import acgan_config, fit_acgan, train_acgan
from simstudio.train.cyclegan import cyclegan_config, fit_cyclegan, train_cyclegan
from simstudio.train.gan_checkpoints import load_gan_checkpoint
from simstudio.train.path_rank_filter import keep_top_alpha, path_rank_filter

COLOURS = {"mel": (230, 180, 40), "nev": (40, 90, 220)}


def toy(n, size=16, seed=0, colour=(230, 180, 40)):
    rng = np.random.default_rng(seed)
    x = np.full((n, size, size, 3), 20, np.uint8)
    for i in range(n):
        r, c = rng.integers(0, size - size // 3, 2)
        x[i, r:r + size // 3, c:c + size // 3] = colour
    return x


def write_folder(root, n=12, size=16):
    for i, (c, colour) in enumerate(COLOURS.items()):
        (root / c).mkdir(parents=True)
        for j, img in enumerate(toy(n, size, seed=i, colour=colour)):
            Image.fromarray(img).save(root / c / f"{c}_{j}.png")
    return root


def run_job(fn, config):
    run = new_run("gan", config)
    result = execute_job(run, fn, config, JobContext(run))
    assert run.status == "finished", run.error
    return run, result


def train_toy_classifier(size=16):
    from simstudio.train.classifier import ClassifierConfig, TrainingData, fit_classifier

    x = np.concatenate([toy(16, size, 1, COLOURS["mel"]), toy(16, size, 2, COLOURS["nev"])])
    y = np.repeat([0, 1], 16)
    data = TrainingData.from_arrays(["mel", "nev"], test=(x, y), train=(x, y))
    cfg = ClassifierConfig(image_size=size, epochs=2, batch_size=16, optimizer="adam", lr=3e-3,
                           schedule="constant", augment="none", device="cpu", val_fraction=0.0)
    run, _ = run_job(lambda c, ctx: fit_classifier(c, data, ctx), cfg)
    return run


def test_acgan_class_head_learns_the_classes():
    x = np.concatenate([toy(24, seed=1, colour=COLOURS["mel"]), toy(24, seed=2, colour=COLOURS["nev"])])
    y = np.repeat([0, 1], 24)
    ctx = JobContext.local()
    events = []
    ctx.on_event = events.append
    config = acgan_config(image_size=16, ngf=8, ndf=8, batch_size=16, epochs=4, lr=1e-3, log_every=1,
                          eval_every=0, grid_size=8, device="cpu")
    summary = fit_acgan(x, y, ["mel", "nev"], config, ctx)
    m = [e for e in events if e["type"] == "metric"]
    assert np.mean([e["class_acc_real"] for e in m[-3:]]) > 0.9
    assert summary["epochs"] == 4


def test_acgan_job_on_a_folder_checkpoints_classes_and_per_class_fidelity(tmp_path):
    folder = write_folder(tmp_path / "real")
    config = acgan_config(dataset=str(folder), image_size=16, ngf=8, ndf=8, batch_size=8, epochs=1,
                          eval_every=1, eval_samples=16, grid_size=8, device="cpu")
    run, result = run_job(train_acgan, config)
    ckpt = load_gan_checkpoint(run.path / "checkpoints" / "acgan" / "best.pt")
    assert ckpt["classes"] == ["mel", "nev"] and ckpt["arch"]["num_classes"] == 2
    fid = run.events("fidelity")[0]
    assert set(fid["per_class"]) == {"mel", "nev"}
    with pytest.raises(ValueError, match="at least 2 classes"):
        train_acgan(acgan_config(dataset=str(folder), classes=["mel"]))


def test_cyclegan_trains_checkpoints_pools_and_resumes():
    x, y = toy(8, 32, 1, COLOURS["nev"]), toy(12, 32, 2, COLOURS["mel"])
    config = cyclegan_config(image_size=32, ngf=4, ndf=4, n_blocks=1, batch_size=4, epochs=1, epochs_decay=1,
                             eval_every=0, log_every=1, device="cpu", pool_size=5)
    run = new_run("gan", config)
    result = execute_job(run, lambda c, ctx: fit_cyclegan(x, y, c, ctx, key="nev-to-mel"), config,
                         JobContext(run))
    assert run.status == "finished", run.error
    assert result["epochs"] == 2
    m = run.events("metric")
    assert len(m) == 6 and all(e["loss_cycle"] > 0 and e["loss_idt"] > 0 for e in m)  # 3 steps per epoch
    ckpt = load_gan_checkpoint(run.path / "checkpoints" / "nev-to-mel" / "last.pt")
    assert set(ckpt["nets"]) == {"G", "F", "D_X", "D_Y"} and ckpt["pool_y"].shape == (5, 3, 32, 32)
    assert ckpt["arch"]["n_layers"] == 3 and ckpt["epoch"] == 2
    # one more epoch after the decay phase: resume picks up at epoch 3 with lr decayed to 0
    more = cyclegan_config(**{**config.__dict__, "epochs_decay": 2, "preset": ""})
    execute_job(run, lambda c, ctx: fit_cyclegan(x, y, c, ctx, key="nev-to-mel"), more, JobContext(run))
    assert load_gan_checkpoint(run.path / "checkpoints" / "nev-to-mel" / "last.pt")["epoch"] == 3
    grid = Image.open(run.path / "samples" / "nev-to-mel" / "epoch_00003.png")
    assert grid.size[1] > 4 * 32  # rows: x, G(x), y, F(y)


def test_keep_top_alpha_keeps_exactly_the_most_confident():
    conf = np.array([0.2, 0.9, 0.5, 0.95, 0.1, 0.7, 0.5, 0.3])
    assert list(keep_top_alpha(conf, 1 / 8)) == [3]
    assert list(keep_top_alpha(conf, 1 / 4)) == [3, 1]
    assert list(keep_top_alpha(conf, 1 / 2)) == [3, 1, 5, 2]  # tie 0.5: the lower index first
    assert sorted(keep_top_alpha(conf, 1.0)) == list(range(8))
    assert len(keep_top_alpha(np.arange(10.0), 1 / 8)) == 2  # ceil(10/8)
    with pytest.raises(ValueError, match="alpha must be in"):
        keep_top_alpha(conf, 0)


@pytest.mark.parametrize("alpha", [1 / 8, 1 / 4, 1 / 2, 1])
def test_path_rank_filter_with_a_trained_classifier(alpha):
    from simstudio.train.checkpoints import load_classifier, predict_proba

    clf = train_toy_classifier()
    rng = np.random.default_rng(0)
    # Y images: melanoma-coloured squares fading towards the nevus colour, so confidence varies
    y = toy(16, seed=5, colour=COLOURS["mel"]).astype(float)
    t = rng.uniform(0, 1, (16, 1, 1, 1))
    y = (y * (1 - t) + toy(16, seed=5, colour=COLOURS["nev"]) * t).astype(np.uint8)
    prf = path_rank_filter(y, clf.id, "mel", alpha)
    model, meta = load_classifier(clf.id)
    conf = predict_proba(model, y)[:, meta["classes"].index("mel")]
    expected = np.argsort(-conf, kind="stable")[:int(np.ceil(alpha * 16))]
    assert prf["kept"] == len(expected) and set(prf["indices"]) == set(expected)
    assert prf["threshold"] == pytest.approx(conf[expected].min())
    with pytest.raises(ValueError, match="knows mel, nev, not 'bcc'"):
        path_rank_filter(y, clf.id, "bcc", alpha)


def test_cyclegan_job_with_path_rank_filter_trains_on_the_top_alpha(tmp_path):
    folder = write_folder(tmp_path / "real", n=16, size=32)
    clf = train_toy_classifier(size=32)
    config = cyclegan_config(dataset=str(folder), x_class="nev", y_class="mel", prf_classifier=clf.id,
                             prf_alpha=0.25, image_size=32, ngf=4, ndf=4, n_blocks=1, batch_size=4, epochs=1,
                             epochs_decay=0, eval_every=1, eval_samples=8, device="cpu")
    run, result = run_job(train_cyclegan, config)
    model = result["models"]["nev-to-mel"]
    assert (model["prf_kept"], model["prf_of"], model["prf_alpha"]) == (4, 16, 0.25)
    assert "kept the top 4 of 16 mel images" in " ".join(e["message"] for e in run.events("log"))
    assert run.events("fidelity")[0]["n_real"] == 4  # evaluated against the Y images it trained on
    with pytest.raises(ValueError, match="two different classes"):
        train_cyclegan(cyclegan_config(dataset=str(folder), x_class="mel", y_class="mel", image_size=32))


def test_acgan_to_per_class_cyclegan_chain_trains_and_generates(tmp_path):
    from simstudio.data.dataset import load_dataset
    from simstudio.train.generate import generate_images

    folder = write_folder(tmp_path / "real", n=8, size=32)
    acgan = acgan_config(dataset=str(folder), image_size=32, ngf=4, ndf=4, batch_size=8, epochs=1,
                         eval_every=0, grid_size=4, device="cpu")
    upstream, _ = run_job(train_acgan, acgan)
    chain = cyclegan_config(dataset=str(folder), chain_from=upstream.id, chain_samples=8, image_size=32,
                            ngf=4, ndf=4, n_blocks=1, batch_size=4, epochs=1, epochs_decay=0, eval_every=0,
                            device="cpu")
    run, result = run_job(train_cyclegan, chain)
    assert set(result["models"]) == {"mel", "nev"}
    ckpt = load_gan_checkpoint(run.path / "checkpoints" / "mel" / "last.pt")
    assert ckpt["x_source"] == upstream.id and ckpt["x_class"] == ckpt["y_class"] == "mel"
    out = generate_images({"checkpoint": run.id, "out": str(tmp_path / "refined"), "per_class": 3,
                           "which": "last", "device": "cpu"})
    assert out["counts"] == {"mel": 3, "nev": 3}
    data = load_dataset(tmp_path / "refined")
    assert data.classes == ["mel", "nev"] and data.images.shape == (6, 32, 32, 3)
