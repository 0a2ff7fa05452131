"""Gap tab handlers: what the page shows for bad input, a finished comparison, while a job runs, and on the
tick that stops redrawing a fit that ended while the page polled it."""

import cv2
import gradio as gr
import numpy as np
from job_ends_mid_poll import each_place_the_job_can_end

from simstudio.jobs import get_runner
from simstudio.ui import fit_section, gap_tab


def disc_folder(root, lesions: dict, n=10, size=48):
    """root/<class>/*.png: a dark disc of the class's colour on skin, random radius and position."""
    rng = np.random.default_rng(len(str(root)))
    for cls, colour in lesions.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            img = np.full((size, size, 3), (222, 172, 150), np.float32)
            c = tuple(int(v) for v in rng.integers(size // 3, 2 * size // 3, 2))
            cv2.circle(img, c, int(rng.integers(size // 8, size // 4)), colour, -1)
            img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / cls / f"{i}.png"), img[..., ::-1])
    return root


def test_start_gap_explains_missing_or_unknown_sets(tmp_path):
    assert gap_tab.start_gap("", "")[1].startswith("⚠ Choose")
    run_id, msg = gap_tab.start_gap(str(tmp_path / "nope"), str(tmp_path))
    assert run_id == "" and "neither an image folder nor a dataset run" in msg


def test_a_finished_comparison_shows_headline_plots_and_gallery(tmp_path):
    real = disc_folder(tmp_path / "real", {"benign": (120, 72, 52), "malignant": (60, 40, 40)})
    syn = disc_folder(tmp_path / "syn", {"benign": (80, 80, 120), "malignant": (80, 80, 120)})
    run_id, msg = gap_tab.start_gap(str(real), str(syn), size=48, per_class=10)
    assert run_id and run_id in msg
    job = get_runner().get(run_id)
    assert job.wait(120) and job.state == "finished", job.error
    status, headline, emb, hist, gallery, telling = gap_tab.gap_views(run_id, ["area_frac", "skin_a"])
    assert "finished" in status
    assert "C2ST AUC" in headline and "| benign |" in headline and "| all |" in headline
    assert "Texture by scale" in headline and "| lesion σ 0–0.7 px |" in headline
    assert "#### Lesion or photo?" in headline and "| lesion |" in headline and "| acquisition |" in headline
    assert len(emb.data) == 4                                      # real/synthetic x benign/malignant
    assert len(hist.data) == 2 * 2 * 2                             # stats x classes x sets
    assert len(gallery) == 8 and all(p.endswith(".png") for p, _ in gallery)
    # what gives it away: 8 synthetic images, then 8 real ones, each with its held-out P(synthetic)
    assert len(telling) == 16 and [c.split()[0] for _, c in telling] == ["synthetic"] * 8 + ["real"] * 8
    assert all("P(synthetic)" in c and p.endswith(".png") for p, c in telling)
    # The timer draws a finished run once, then leaves the page alone.
    first = gap_tab.poll_gap(run_id, ["area_frac"], "")
    assert first[-1] == run_id and "C2ST" in first[1]
    assert all(v == gr.skip() for v in gap_tab.poll_gap(run_id, ["area_frac"], run_id))
    assert run_id in gap_tab.gap_run_choices()


def test_the_headline_says_which_statistics_give_a_set_away():
    from simstudio.eval.telling_stats import telling_statistics

    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    real = {"skin_a": x[:200], "da": x[:200] + 0.3 * rng.normal(size=200)}
    synthetic = {"skin_a": x[200:], "da": rng.permutation(x[200:] + 0.3 * rng.normal(size=200))}
    result = {"c2st": {"auc": 0.7, "ci": [0.6, 0.8]}, "feature_space": "stats", "classes": ["benign"],
              "c2st_per_class": {}, "fidelity": {},
              "telling_stats": telling_statistics(real, synthetic, np.zeros(200, int), np.zeros(200, int),
                                                  ["benign"])}
    headline = gap_tab.format_gap_headline(result)
    assert "#### Which statistics give it away" in headline
    assert "**benign** (200 real, 200 synthetic)" in headline and "| skin_a | da |" in headline
    del result["telling_stats"]                                   # a run from before: no section, no error
    assert "Which statistics" not in gap_tab.format_gap_headline(result)


def test_views_of_unknown_or_empty_run():
    status, headline, *_ = gap_tab.gap_views("gap-missing")
    assert "No run" in status and headline == ""
    assert gap_tab.gap_views("")[0] == ""
    # A run that has gone is said once, and the timers leave the page alone after that (`shown`).
    for views in (gap_tab.poll_gap("gap-missing"), gap_tab.sweep_views("counterfactual-missing"),
                  fit_section.fit_views("simfit-missing")):
        assert "No run" in views[0] and views[-1].endswith("-missing")
    from simstudio.ui.audit_section import poll_audit

    views = poll_audit("audit-missing")
    assert "No run" in views[0] and views[-1] == "audit-missing"


def test_tab_builds():
    with gr.Blocks():
        gap_tab.build_gap_tab()


def test_sweep_form_checks_and_a_finished_sweep_shows_curve_and_images(tmp_path):
    import torch

    from simstudio.jobs import JobContext, execute_job
    from simstudio.runs import new_run
    from simstudio.sim.params import LesionParams
    from simstudio.sim.render import render_lesion
    from simstudio.train.classifier import ClassifierConfig, TrainingData, fit_classifier

    assert gap_tab.start_sweep("", "asymmetry")[1].startswith("⚠ Choose a classifier")
    assert "cannot be swept" in gap_tab.start_sweep("some-run", "colour_layout")[1]
    assert "No preset file" in gap_tab.start_sweep("some-run", "asymmetry", preset=str(tmp_path / "x.json"))[1]
    torch.set_num_threads(1)
    imgs = np.stack([render_lesion(LesionParams(diameter_mm=4 + 8 * (i % 2)), 32, seed=i)[0] for i in range(24)])
    labels = np.arange(24) % 2
    config = ClassifierConfig(image_size=32, epochs=1, batch_size=8, device="cpu", val_fraction=0.0)
    run = new_run("train", config)
    data = TrainingData.from_arrays(["benign", "malignant"], test=(imgs, labels), train=(imgs, labels))
    execute_job(run, lambda c, ctx: fit_classifier(c, data, ctx), config, JobContext(run))
    assert run.id in gap_tab.classifier_choices()
    run_id, msg = gap_tab.start_sweep(run.id, "diameter_mm", "nevus", n_values=3, n_samples=2, size=32)
    assert run_id, msg
    job = get_runner().get(run_id)
    assert job.wait(120) and job.state == "finished", job.error
    status, fig, images, shown = gap_tab.sweep_views(run_id)
    assert "changes by" in status and shown == run_id
    assert len(fig.data[-1].x) == 3
    assert [c for _, c in images][:2] == ["first lesion, diameter_mm from 1.5 to 25.0", "Grad-CAM, simulated"]
    assert all(v == gr.skip() for v in gap_tab.sweep_views(run_id, run_id))


def test_the_fit_drawing_that_marks_the_run_shown_has_every_trial(tmp_path, monkeypatch):
    """A fit that ends while the page polls it, at each place between two of the handler's reads: the drawing
    that marks the run shown is the last the timer makes, so it must show the run finished with every trial
    (one that read the trials before the run ended and the status after had left the last trial out for good)."""
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    real = disc_folder(tmp_path / "real", {"benign": (120, 72, 52), "malignant": (60, 40, 40)}, n=8)
    split = tmp_path / "split.csv"
    split.write_text("file,class,part,fold\n" + "".join(f"{p.relative_to(real)},{p.parent.name},val,\n"
                                                         for p in sorted(real.glob("*/*.png"))))

    def start():
        return fit_section.start_fit(str(real), ["val"], trials=2, per_class=8, size=48,
                                 knobs=["melanoma.diameter_mm"], split_file=str(split))[0]

    def first(run_id):
        return fit_section.fit_views(run_id, "")

    def poll(run_id, out):
        return fit_section.fit_views(run_id, out[-1])

    def stopped(out):
        return out[-1] != ""

    for k, run_id, out in each_place_the_job_can_end(start, first, poll, stopped, hold_at=".trials.json."):
        status, fig, preview, table, shown = out
        where = f"{run_id} ended just before read {k} of fit_views"
        assert shown == run_id and "finished" in status and "Fitted preset" in status, where
        assert list(table["trial"]) == [0, 1] and len(fig.data) == 2, where
        assert preview.endswith("best.png"), where


def _simulated_val_set(tmp_path, per_class=8):
    """A tiny 'real' set drawn by the simulator, every image in the split's val part."""
    from simstudio.sim.export import ExportConfig, export_dataset

    real = tmp_path / "real"
    export_dataset(ExportConfig(out=str(real), per_class=per_class, size=48, workers=1, seed=3))
    rows = ["file,class,part,fold"] + [f"{p.relative_to(real)},{p.parent.name},val,"
                                        for p in sorted(real.glob("*/*.png"))]
    (tmp_path / "split.csv").write_text("\n".join(rows) + "\n")
    return real


def test_fit_form_refuses_the_test_part_and_a_finished_fit_shows_trials(tmp_path):
    real = _simulated_val_set(tmp_path)
    assert fit_section.start_fit("")[1].startswith("⚠ Choose")
    msg = fit_section.start_fit(str(real), ["val", "test"], split_file=str(tmp_path / "split.csv"))[1]
    assert "never reads the test part" in msg
    run_id, msg = fit_section.start_fit(str(real), ["val"], trials=2, per_class=8, size=48,
                                    knobs=["melanoma.diameter_mm"], split_file=str(tmp_path / "split.csv"))
    assert run_id, msg
    job = get_runner().get(run_id)
    assert job.wait(120) and job.state == "finished", job.error
    status, fig, preview, table, shown = fit_section.fit_views(run_id)
    assert "finished" in status and "Fitted preset" in status and shown == run_id
    assert list(table["trial"]) == [0, 1] and "melanoma.diameter_mm" in table.columns
    assert preview.endswith("best.png") and len(fig.data) == 2
    assert "not running" in fit_section.cancel_job(run_id)


def test_a_photos_camera_fit_from_the_form_says_what_camera_it_read(tmp_path):
    for n, ends in ((8, "failed"), (12, "finished")):
        real = _simulated_val_set(tmp_path / str(n), per_class=n)
        run_id, msg = fit_section.start_fit(str(real), ["val"], trials=1, per_class=8, size=48,
                                        knobs=["melanoma.diameter_mm"], split_file=str(tmp_path / str(n) / "split.csv"),
                                        camera="photos")
        assert run_id and "camera of each real photo" in msg, msg
        job = get_runner().get(run_id)
        assert job.wait(120) and job.state == ends, job.error
        status = fit_section.fit_views(run_id)[0]
        if ends == "failed":  # too few photos to read a camera from: said, not a traceback
            assert "only 16 real photos have a measurable skin ring" in status and "Traceback" not in status, status
        else:
            assert "drawn together from 24 real photos, all classes pooled" in status, status
    assert fit_section.start_fit(str(real), ["val"], camera="lens", split_file=str(tmp_path / "split.csv"))[1] == \
        "⚠ camera = 'lens': expected one of ranges, photos"


def test_a_fit_says_which_rules_its_skipped_draws_broke(tmp_path):
    real = _simulated_val_set(tmp_path)
    knobs = ["nevus.asymmetry", "melanoma.asymmetry"]
    results = {}
    for keep in (True, False):
        run_id, msg = fit_section.start_fit(str(real), ["val"], trials=8, per_class=8, size=48, knobs=knobs,
                                        split_file=str(tmp_path / "split.csv"), keep_abcd=keep)
        job = get_runner().get(run_id)
        assert job.wait(120) and job.state == "finished", job.error
        results[keep] = fit_section.fit_views(run_id)
    status, fig, _preview, table, _shown = results[True]
    assert "drawn preset(s) broke the ABCD order and were skipped unrendered" in status
    assert "nevus asymmetry" in status   # the rule broken most often is named
    assert list(table["trial"]) == list(range(8)) and len(fig.data[0].x) == 8   # eight rendered trials
    status, _fig, _preview, table, _shown = results[False]
    assert "ABCD" not in status and len(table) == 8



def test_a_fit_under_a_realism_cap_shows_each_trials_c2st_and_whether_the_cap_held(tmp_path):
    real = _simulated_val_set(tmp_path)
    split = str(tmp_path / "split.csv")
    assert fit_section.start_fit(str(real), ["val"], split_file=split, max_c2st=1.5)[1] == (
        "⚠ max_c2st = 1.5 is out of range: expected 0 (no constraint) or a C2ST AUC in [0.5, 1] "
        "(0.5: indistinguishable from real)")
    refused = fit_section.start_fit(str(real), ["val"], split_file=split, radius=0)[1]
    assert refused.startswith("⚠ radius = 0.0 is out of"), refused
    run_id, msg = fit_section.start_fit(str(real), ["val"], objective="stats_auc", trials=2, per_class=8, size=48,
                                    knobs=["melanoma.diameter_mm"], split_file=split, max_c2st=1.0, radius=0.2)
    assert run_id and "lesion statistics' C2ST at most 1, each knob within 0.2 of its range" in msg, msg
    job = get_runner().get(run_id)
    assert job.wait(120) and job.state == "finished", job.error
    status, _fig, _preview, table, _shown = fit_section.fit_views(run_id)
    assert "Realism constraint kept" in status and "<= 1." in status, status
    assert list(table.columns[:3]) == ["trial", "value", "C2ST"] and table["C2ST"].between(0, 1).all()


def test_a_fit_confirmed_on_fresh_seeds_says_which_trial_it_kept_and_why(tmp_path):
    real = _simulated_val_set(tmp_path)
    split = str(tmp_path / "split.csv")
    for bad in (2.5, 21):
        refused = fit_section.start_fit(str(real), ["val"], split_file=split, confirm=bad)[1]
        assert refused.startswith("⚠ ") and ("not a whole number" in refused or "out of range" in refused), refused
    run_id, msg = fit_section.start_fit(str(real), ["val"], objective="stats", trials=3, per_class=8, size=48,
                                        knobs=["melanoma.diameter_mm"], split_file=split, confirm=2)
    assert run_id and "confirmed on 2 fresh seeds" in msg, msg
    job = get_runner().get(run_id)
    assert job.wait(120) and job.state == "finished", job.error
    status = fit_section.fit_views(run_id)[0]
    assert "Confirmed on 2 fresh seeds (stats, mean ± sd): start " in status and "(kept)" in status, status


def test_the_trial_curve_never_takes_a_trial_over_the_realism_cap_as_the_best():
    from simstudio import plots

    fig = plots.trials_figure([0, 1, 2], [0.7, 0.9, 0.8], "maximize", kept=[True, False, True])
    kept, over, best = fig.data
    assert list(kept.x) == [0, 2] and list(over.x) == [1] and over.name == "over the realism cap"
    assert list(best.y) == [0.7, 0.7, 0.8]
    assert len(plots.trials_figure([0, 1], [0.7, 0.9], "maximize").data) == 2  # unconstrained: no hollow trace
