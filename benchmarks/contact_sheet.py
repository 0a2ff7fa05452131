"""Contact sheets: real and simulated lesions of each class side by side at 224 px, to judge realism by eye
before any number claims it (issue 13).

    .venv/bin/python benchmarks/contact_sheet.py [--real ../shared/data/derm-real] [--preset default-binary
        --preset fitted-derm-real ...] [--per-class 6] [--seed 0] [--out /tmp/simstudio-sheets]
    .venv/bin/python benchmarks/contact_sheet.py --sim-only      # the README's sheets, into assets/readme/

One PNG per class: a row of real images of that class (drawn at random from the folder's <class>/
subfolder), then a row per simulator preset (the exporter's per-image seeds, so a sheet shows what an
export of that preset holds). A sheet with real images is written outside the repository only (default
/tmp/simstudio-sheets): real images never go into it. `--sim-only` leaves the real row out and writes
`assets/readme/sim-<class>.jpg`, the sheets the README shows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# ../shared beside the repository (a worktree one level further down finds it one level up)
DEFAULT_REAL = next((p / "shared" / "data" / "derm-real" for p in (REPO.parent, REPO.parent.parent)
                     if (p / "shared" / "data" / "derm-real").is_dir()), REPO.parent / "shared" / "data" / "derm-real")
README_SHEETS = REPO / "assets" / "readme"
SIDE = 224  # the side real derm-real images have, and what a dermatologist is shown
LABEL_W = 150  # the strip left of each row naming it
GAP = 4


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=str(DEFAULT_REAL), help="real image folder: <class>/<images>")
    parser.add_argument("--preset", action="append", default=[],
                        help="simulator preset (shipped name or JSON file), repeatable; default: "
                             "default-binary and fitted-derm-real")
    parser.add_argument("--per-class", type=int, default=6, help="images per row (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="which real images and simulated seeds")
    parser.add_argument("--out", default="", help="folder for the sheets (default /tmp/simstudio-sheets; "
                                                  "with --sim-only, assets/readme)")
    parser.add_argument("--sim-only", action="store_true", help="no real images; the README's sheets")
    args = parser.parse_args(argv)
    if not 1 <= args.per_class <= 16:
        raise SystemExit(f"--per-class = {args.per_class} is out of range: expected [1, 16]")
    from simstudio.sim.presets import load_preset

    names = args.preset or ["default-binary", "fitted-derm-real"]
    presets = [load_preset(p) for p in names]
    labels = [Path(p).stem for p in names]  # as the user named it (a fitted preset's own name is longer)
    out = Path(args.out or (README_SHEETS if args.sim_only else "/tmp/simstudio-sheets")).expanduser().resolve()
    if not args.sim_only and (out == REPO or REPO in out.parents):
        raise SystemExit(f"--out {out} lies inside the repository: sheets with real images stay outside it "
                         f"(or give --sim-only)")
    classes = list(presets[0].output_classes)
    real = None if args.sim_only else Path(args.real)
    written = []
    for c in classes:
        rows = []
        if real is not None:
            rows.append(("real", _real_row(real / c, args.per_class, args.seed)))
        for label, study in zip(labels, presets, strict=True):
            if c not in study.output_classes:
                raise SystemExit(f"preset {label} has no class {c!r} (it has {', '.join(study.output_classes)})")
            rows.append((label, _sim_row(study, c, args.per_class, args.seed)))
        out.mkdir(parents=True, exist_ok=True)
        sheet = cv2.cvtColor(_compose(c, rows), cv2.COLOR_RGB2BGR)
        if args.sim_only:  # shown in the README: a JPEG keeps the repository small (~10x a PNG)
            path = out / f"sim-{c}.jpg"
            ok, png = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
        else:  # looked at closely: lossless
            path = out / f"sheet-{c}.png"
            ok, png = cv2.imencode(".png", sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise SystemExit(f"could not encode {path}")
        path.write_bytes(png.tobytes())
        written.append(path)
        print(f"wrote {path} ({len(png) // 1024} KB): {c}, rows {', '.join(name for name, _ in rows)}")
    return written


def _real_row(folder: Path, n: int, seed: int) -> list[np.ndarray]:
    from simstudio.data.images import is_image_name

    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p.name)) if folder.is_dir() else []
    if not files:
        raise SystemExit(f"no real images in {folder}")
    rng = np.random.default_rng(seed)
    picked = [files[i] for i in sorted(rng.choice(len(files), min(n, len(files)), replace=False))]
    return [_square(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)) for p in picked]


def _sim_row(study, class_name: str, n: int, seed: int) -> list[np.ndarray]:
    from simstudio.sim.export import image_seed, render_image

    c = list(study.output_classes).index(class_name)
    return [render_image(study, class_name, image_seed(seed, c, i), SIDE)[0] for i in range(n)]


def _square(rgb: np.ndarray) -> np.ndarray:
    """Centre crop to a square, then area-resize to SIDE (real sets come in many shapes)."""
    h, w = rgb.shape[:2]
    s = min(h, w)
    rgb = rgb[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return rgb if s == SIDE else cv2.resize(rgb, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def _compose(class_name: str, rows: list[tuple[str, list[np.ndarray]]]) -> np.ndarray:
    n = max(len(images) for _, images in rows)
    width = LABEL_W + n * (SIDE + GAP)
    title_h = 30
    sheet = np.full((title_h + len(rows) * (SIDE + GAP), width, 3), 255, np.uint8)
    cv2.putText(sheet, f"class: {class_name}", (8, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for r, (name, images) in enumerate(rows):
        y = title_h + r * (SIDE + GAP)
        for k, line in enumerate(_wrap(name, 16)):
            cv2.putText(sheet, line, (8, y + 24 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        for i, im in enumerate(images):
            x = LABEL_W + i * (SIDE + GAP)
            sheet[y:y + SIDE, x:x + SIDE] = im
    return sheet


def _wrap(text: str, width: int) -> list[str]:
    parts, line = [], ""
    for word in text.replace("-", "- ").split():
        if line and len(line) + len(word) > width:
            parts.append(line)
            line = ""
        line += word
    return [*parts, line] if line else parts


if __name__ == "__main__":
    main()
