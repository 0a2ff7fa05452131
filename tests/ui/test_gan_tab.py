"""GAN tab handlers, called as the page calls them: bad input is a message, Start trains a tiny GAN in the
background and the page shows its curves, strips, KID/FID and warnings (also when the run finishes while the
page polls it); Cancel/Resume continue the same run; Generate writes a dataset; Compare reports fidelity of
simulator and GAN output side by side; a cancelled or missing side job says so and stops its timer."""

import time

import gradio as gr
import numpy as np
import pytest
from job_ends_mid_poll import each_place_the_job_can_end, held_in_the_queue, timer_poll
from PIL import Image

from simstudio.jobs import get_runner
from simstudio.runs import open_run
from simstudio.ui import gan_tab

COLOURS = {"mel": (230, 180, 40), "nev": (40, 90, 220)}
DCGAN = "DCGAN (one model per class)"
CYCLEGAN = "CycleGAN (class X → class Y)"


def write_folder(root, n=12, size=16, shift=0):
    rng = np.random.default_rng(shift)
    for c, colour in COLOURS.items():
        (root / c).mkdir(parents=True)
        for j in range(n):
            x = np.full((size, size, 3), 20 + shift, np.uint8)
            r, k = rng.integers(0, size - size // 3, 2)
            x[r:r + size // 3, k:k + size // 3] = colour
            Image.fromarray(x).save(root / c / f"{c}_{j}.png")
    return root


@pytest.fixture
def real(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    return write_folder(tmp_path / "real")


def settings(source, **kw):
    base = dict(model_label=DCGAN, preset="cpu-32", dataset=None, folder=str(source), classes=[],
                x_class=None, y_class=None, prf=None, alpha="1 (no filter)", chain=None, size=16, epochs=2,
                batch=8, lr=2e-4, ngf=8, ndf=8, nz=100, diffaug=False, eval_every=1, eval_samples=8,
                eval_features="pixels", seed=0)
    base.update(kw)
    return base


def wait(job_id, timeout=120):
    job = get_runner().get(job_id)
    assert job is not None and job.wait(timeout)
    return job


def test_tab_builds_and_model_switch_changes_presets():
    with gr.Blocks():
        gan_tab.build_gan_tab()
    preset, box, *values = gan_tab.model_changed(CYCLEGAN)
    assert "paper-256" in preset["choices"] and box["visible"] is True
    assert values[0] == 32  # cpu-32 image size
    assert gan_tab.fill_preset(DCGAN, "paper-128")[:2] == (128, 500)


def test_bad_input_is_a_message_not_a_run(real, tmp_path):
    run_id, msg, timer, _ = gan_tab.start_gan(**settings(real, folder=""))
    assert run_id == "" and "Cannot start" in msg and "choose a real dataset" in msg
    _, msg, _, _ = gan_tab.start_gan(**settings(real, size=48))
    assert "image size must be one of" in msg
    _, msg, _, _ = gan_tab.start_gan(**settings("/etc"))
    assert "outside the folders this app may read" in msg
    _, msg, _, _ = gan_tab.start_gan(**settings(real, model_label=CYCLEGAN, size=32, x_class="mel",
                                                y_class="mel"))
    assert run_id == "" and "two different classes" in msg
    assert gan_tab.show_gan_run("")[0] == ""
    assert "not running" in gan_tab.cancel_gan("nope")


def test_classes_of_a_folder_fill_the_pickers(real):
    classes, x, y = gan_tab.classes_for(None, str(real))
    assert classes["choices"] == ["mel", "nev"] and (x["value"], y["value"]) == ("nev", "mel")  # → melanoma


def test_start_trains_in_the_background_and_the_page_shows_it(real, tmp_path):
    run_id, msg, timer, runs = gan_tab.start_gan(**settings(real, classes=["mel"]))
    assert run_id and "Started" in msg and runs["value"] == run_id
    wait(run_id)
    status, warnings, losses, d_out, strips, fid = gan_tab.show_gan_run(run_id)
    assert "finished" in status and "best KID" in status and "FID unreliable" in status
    assert {t.name for t in losses.data} == {"D loss", "G loss"}
    assert {t.name for t in d_out.data} == {"D(x)", "D(G(z))"}
    assert strips.ndim == 3 and strips.shape[0] > 22 + 2 * 16  # the name, then a row per epoch
    assert len(fid.data) == 2 and "pixels" in fid.layout.title.text
    *_, timer = gan_tab.poll_gan(run_id)
    assert timer.active is False
    # reopening a past run shows the same page
    assert gan_tab.reopen_gan(run_id)[1] == status

    # Generate from it, and the output becomes a choice for the fidelity comparison
    gen_id, gen_msg, _ = gan_tab.start_generate(run_id, 6, 0, "best")
    assert gen_id, gen_msg
    wait(gen_id)
    text, gallery, sets, *_, timer = gan_tab.poll_side(gen_id)
    assert "Wrote **6** images (mel: 6)" in text and len(gallery) == 6 and timer.active is False
    out = open_run(gen_id).result["out"]
    assert sets["value"] == out and out in [v for _, v in sets["choices"]]

    # Fidelity: real vs "simulator" folder and real vs GAN output, side by side
    sim = write_folder(tmp_path / "sim", shift=30)
    cmp_id, cmp_msg, _ = gan_tab.start_compare(str(real), str(sim), out, "pixels", "mel", 100)
    assert cmp_id, cmp_msg
    wait(cmp_id)
    *_, md, table, _ = gan_tab.poll_side(cmp_id)
    assert "KID" in md and "unreliable" in md
    assert list(table.columns) == ["metric", "simulator", "GAN"]
    assert table.iloc[0, 0] == "KID"  # small sets lead with KID
    assert "features" in list(table["metric"]) and table[table.metric == "compared images"].iloc[0, 2] == "6"


def test_the_poll_that_stops_the_timer_shows_the_finished_run(real):
    """A GAN run that ends while the page polls (or reopens) it, at each place between two of the handler's
    reads (its epoch's strip, KID/FID and checkpoints are written in between): the poll that stops the timer is
    the last the page gets, so it must show the run finished with its curves, strip and KID (a poll that read
    the events, or the status for its text, before the run ended and the status again after, to stop the
    timer, had left the page without the KID, or saying "running", for good)."""

    def start():
        return gan_tab.start_gan(**settings(real, classes=["mel"], epochs=1))[0]

    poll, stopped = timer_poll(gan_tab.poll_gan)

    for first in (gan_tab.poll_gan, gan_tab.reopen_gan):
        for k, run_id, out in each_place_the_job_can_end(start, first, poll, stopped, hold_at="samples/"):
            status, _warnings, losses, d_out, strips, fid = out[-7:-1]
            where = f"{run_id} ended just before read {k} of {first.__name__}"
            assert "**finished**" in status and "best KID" in status, where
            assert {t.name for t in losses.data} == {"D loss", "G loss"} and d_out.data, where
            assert strips is not None and len(fid.data) == 2, where


def test_a_cancelled_or_missing_side_job_says_so_and_stops_its_timer(real):
    run_id, _, _, _ = gan_tab.start_gan(**settings(real, classes=["mel"], epochs=1, eval_every=0))
    wait(run_id)
    with held_in_the_queue(lambda: gan_tab.start_generate(run_id, 4, 0, "best")[0]) as gen_id:
        assert get_runner().cancel(gen_id)  # cancelled while it waits: no images, no summary
        text, gallery, sets, *_, timer = gan_tab.poll_side(gen_id)
    assert "cancelled" in text and gallery == [] and timer.active is False
    text, _gallery, _sets, cmp_text, _table, timer = gan_tab.poll_side("generate-gone")
    assert "no run" in text and cmp_text == gr.update() and timer.active is False
    _text, _gallery, _sets, cmp_text, _table, timer = gan_tab.poll_side("fidelity-gone")
    assert "no run" in cmp_text and timer.active is False
    *_, timer = gan_tab.poll_gan("gan-gone")
    assert timer.active is False


def test_cancel_then_resume_continues_the_same_run(real):
    run_id, _, _, _ = gan_tab.start_gan(**settings(real, epochs=30, eval_every=0, classes=["nev"]))
    run = open_run(run_id)
    job = get_runner().get(run_id)
    deadline = time.time() + 60
    while not (run.path / "checkpoints" / "nev" / "last.pt").is_file():  # wait for the first checkpoint
        assert time.time() < deadline
        time.sleep(0.05)
    assert "Cancelling" in gan_tab.cancel_gan(run_id)
    assert job.wait(60) and run.status == "cancelled"
    status = gan_tab.show_gan_run(run_id)[0]
    assert "Resume" in status
    msg, timer = gan_tab.resume_gan_run(run_id)
    assert "Resuming" in msg and timer.active
    wait(run_id)
    assert run.status == "finished" and run.result["models"]["nev"]["epochs"] == 30
    assert any("resuming after epoch" in e["message"] for e in run.events("log"))
    msg, _ = gan_tab.resume_gan_run("")
    assert "Reopen a stopped run" in msg


def test_compare_offline_inception_says_so(real, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    monkeypatch.setenv("SIMSTUDIO_OFFLINE", "1")
    cmp_id, msg, timer = gan_tab.start_compare(str(real), str(real), None, "inception", "", 10)
    assert cmp_id == "" and "Inception-v3 weights are not available offline" in msg
    _, msg, _ = gan_tab.start_compare(str(real), "", None, "pixels", "", 10)
    assert "give a simulator output folder and/or a GAN output" in msg
