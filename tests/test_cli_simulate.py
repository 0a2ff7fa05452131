"""`python -m simstudio simulate` and `preset` end to end, in a subprocess as a user runs them."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, home):
    env = {**os.environ, "SIMSTUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "simstudio", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_simulate_writes_an_image_folder_with_its_manifest(tmp_path, run_store):
    out = tmp_path / "sim"
    r = _cli("simulate", "--per-class", "3", "--size", "32", "--out", str(out), "--workers", "2",
             "--seed", "5", home=run_store)
    assert r.returncode == 0, r.stderr
    assert "wrote 6 images (benign: 3, malignant: 3)" in r.stdout
    assert "6/6" in r.stderr  # the progress bar
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.png"))
    assert on_disk == sorted(r["file"] for r in rows)
    assert rows[0]["file"] == "benign/benign_000000.png" and "diameter_mm" in rows[0]
    # The run is in the store too, like every other job.
    assert [p.name.split("-")[0] for p in run_store.iterdir() if p.is_dir()] == ["simulate"]


def test_an_out_of_range_parameter_in_a_preset_exits_2_naming_it(tmp_path, run_store):
    preset = tmp_path / "preset.json"
    r = _cli("preset", "--write", str(preset), "--task", "three_class", home=run_store)
    assert r.returncode == 0, r.stderr
    data = json.loads(preset.read_text())
    assert set(data["classes"]) == {"melanoma", "nevus", "seborrheic_keratosis"}
    data["lesion"]["melanoma"]["diameter_mm"] = {"uniform": [5, 60]}
    preset.write_text(json.dumps(data))
    r = _cli("simulate", "--per-class", "2", "--size", "32", "--out", str(tmp_path / "x"), "--preset",
             str(preset), home=run_store)
    assert r.returncode == 2
    assert "diameter_mm" in r.stderr and "[1.5, 25] mm" in r.stderr
    assert not (tmp_path / "x").exists()
    assert not any(run_store.glob("simulate-*"))  # refused before a run was made


def test_out_of_range_size_exits_2_naming_the_range(tmp_path, run_store):
    r = _cli("simulate", "--per-class", "2", "--size", "600", "--out", str(tmp_path / "x"), home=run_store)
    assert r.returncode == 2 and "size = 600 is out of range" in r.stderr and "[32, 512]" in r.stderr


def test_masks_are_opt_in_and_another_renderers_export_exits_2_naming_both_versions(tmp_path, run_store):
    import json

    from simstudio.sim.render import RENDERER_VERSION

    out = tmp_path / "sim"
    r = _cli("simulate", "--per-class", "2", "--size", "32", "--out", str(out), "--workers", "1", "--masks",
             home=run_store)
    assert r.returncode == 0, r.stderr
    assert f"renderer version {RENDERER_VERSION}" in r.stdout
    names = sorted(p.name for p in (out / "benign").iterdir())
    assert "benign_000000_segmentation.png" in names and "benign_000001_attribute_milia_like_cyst.png" in names
    assert len(names) == 2 * 8  # each image, its lesion mask and six structure masks
    # The same folder, as if an older renderer had begun it: finishing it here would mix two renderers.
    marker = json.loads((out / ".simstudio-export.json").read_text())
    marker["renderer_version"] = RENDERER_VERSION + 1
    (out / ".simstudio-export.json").write_text(json.dumps(marker))
    (out / "manifest.csv").unlink()
    r = _cli("simulate", "--per-class", "2", "--size", "32", "--out", str(out), "--masks", home=run_store)
    assert r.returncode == 2
    assert f"renderer version {RENDERER_VERSION + 1}" in r.stderr
    assert f"renderer version {RENDERER_VERSION}," in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1  # one line, no traceback


def test_preset_check_says_which_parameters_a_preset_draws_together(tmp_path, run_store):
    preset = tmp_path / "preset.json"
    assert _cli("preset", "--write", str(preset), home=run_store).returncode == 0
    data = json.loads(preset.read_text())
    for name in ("tint_a", "tint_b", "exposure"):
        del data["acquisition"][name]
    data["acquisition"]["tint_a+tint_b+exposure"] = {"rows": [[10.0, -5.0, 0.2], [20.0, -9.0, -0.1]]}
    preset.write_text(json.dumps(data))
    r = _cli("preset", "--check", str(preset), home=run_store)
    assert r.returncode == 0, r.stderr
    assert "tint_a, tint_b, exposure: drawn together from 2 rows (every class)" in r.stdout
    data["acquisition"]["tint_a+tint_b+exposure"]["rows"].append([10.0, -5.0, 3.0])
    preset.write_text(json.dumps(data))
    r = _cli("preset", "--check", str(preset), home=run_store)
    assert r.returncode == 2 and "row 2: exposure = 3.0 is out of range" in r.stderr


def test_preset_check_says_which_renderer_a_fitted_preset_was_fitted_on(tmp_path, run_store):
    from simstudio.sim.render import RENDERER_CHANGES, RENDERER_VERSION

    preset = tmp_path / "preset.json"
    assert _cli("preset", "--write", str(preset), home=run_store).returncode == 0
    data = json.loads(preset.read_text())
    for version, says in ((RENDERER_VERSION, f"fitted on renderer version {RENDERER_VERSION}\n"),
                          (RENDERER_VERSION - 1, RENDERER_CHANGES[RENDERER_VERSION]),
                          (1, "which differs in the look of every image")):
        data["provenance"] = {"renderer_version": version}
        preset.write_text(json.dumps(data))
        r = _cli("preset", "--check", str(preset), home=run_store)
        assert r.returncode == 0 and says in r.stdout, r.stdout


def test_preset_check_lists_what_was_added_to_a_fitted_preset_after_its_fit(tmp_path, run_store):
    preset = tmp_path / "preset.json"
    assert _cli("preset", "--write", str(preset), home=run_store).returncode == 0
    data = json.loads(preset.read_text())
    data["provenance"] = {"renderer_version": 7, "amended": [
        {"what": "pigment_gaps appended", "evidence": "test AUC 0.788 -> 0.807", "when": "2026-12-07"},
        {"what": "lens_falloff appended"}]}
    preset.write_text(json.dumps(data))
    r = _cli("preset", "--check", str(preset), home=run_store)
    assert r.returncode == 0, r.stderr
    assert "Amended after the fit (2026-12-07): pigment_gaps appended; test AUC 0.788 -> 0.807" in r.stdout
    assert "Amended after the fit (undated): lens_falloff appended; no evidence recorded" in r.stdout
