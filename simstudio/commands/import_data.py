"""`import`: turn an image folder, ISIC/HAM10000 CSV or zip into a dataset run (cache + split), printing a
summary and the dataset id that `train`, `gan` and experiments take."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="import a real dataset (folder, ISIC/HAM10000 CSV, zip)",
                       description="Decode, preprocess and cache a labelled image set once, split it, and "
                                   "register it as a dataset run.")
    p.add_argument("source", metavar="SOURCE",
                   help="image folder (root/<class>/* or root/train|test/<class>/*), CSV, or .zip")
    p.add_argument("--csv", metavar="FILE", default="",
                   help="ground-truth CSV (ISIC 2017/2019/2020, HAM10000, file,class) for SOURCE's images")
    p.add_argument("--map", metavar="FILE", default="",
                   help="class map: lines 'target: source1, source2' ('*' = the rest, 'drop' = leave out)")
    p.add_argument("--size", type=int, default=128, metavar="S", help="side of the cached square images (px)")
    p.add_argument("--fit", choices=["resize", "crop", "pad"], default="resize",
                   help="how a non-square image becomes square (default: resize, keeps the whole view)")
    p.add_argument("--bilateral", nargs="?", const="9,75,75", default="", metavar="D,SC,SS",
                   help="bilateral filter; optional 'd,sigma_color,sigma_space' (default 9,75,75)")
    p.add_argument("--gamma", type=float, default=1.0, metavar="G",
                   help="gamma correction, G > 1 brightens mid-tones (the paper used 1.5; default 1 = off)")
    p.add_argument("--hair-removal", action="store_true", help="DullRazor-style hair removal")
    p.add_argument("--shades-of-gray", action="store_true", help="Shades-of-Gray colour constancy (p = 6)")
    p.add_argument("--split", default="85/15", metavar="SPEC",
                   help="85/15, 80/10/10, 10/45/45, any a/b[/c]; kfold:K; 'source' keeps train/test folders")
    p.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    p.add_argument("--name", default="", help="a name shown in run lists")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (default: one per core)")
    p.add_argument("--out", help="run store folder the dataset run is written in (default $SIMSTUDIO_HOME or ./runs)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys
    from pathlib import Path

    from simstudio.data.importer import ImportConfig, format_summary, import_dataset
    from simstudio.data.preprocess import Preprocessing
    from simstudio.jobs import run_in_foreground

    source = Path(args.source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"no such file or folder: {args.source}")
    pre = Preprocessing(size=args.size, fit=args.fit, gamma=args.gamma, hair_removal=args.hair_removal,
                        shades_of_gray=args.shades_of_gray)
    if args.bilateral:
        d, sc, ss = _bilateral_args(args.bilateral)
        pre.bilateral, pre.bilateral_d, pre.bilateral_sigma_color, pre.bilateral_sigma_space = True, d, sc, ss
    class_map = ""
    if args.map:
        map_path = Path(args.map).expanduser()
        if not map_path.is_file():
            raise FileNotFoundError(f"no such class-map file: {args.map}")
        class_map = map_path.read_text(encoding="utf-8")
    config = ImportConfig(source=str(source.resolve()), csv=str(Path(args.csv).resolve()) if args.csv else "",
                          class_map=class_map, preprocessing=pre, split=args.split, seed=args.seed,
                          workers=args.workers).validated()
    run, result = run_in_foreground("dataset", import_dataset, config, name=args.name or source.name,
                                    root=args.out)
    if result is None:
        error = (run.error or "").strip().splitlines()
        first = error[0] if error else f"import ended {run.status}"
        kind, _, message = first.partition(": ")
        if kind in ("ValueError", "FileNotFoundError", "NotADirectoryError", "PermissionError",
                    "UnsafeArchiveError", "ImageDecodeError"):
            print(f"error: {message} (run {run.id})", file=sys.stderr)
            return 2
        print(f"error: {first} (run {run.id}; details in {run.path / 'error.txt'})", file=sys.stderr)
        return 1
    print(format_summary(result))
    print(result["dataset_id"])
    return 0


def _bilateral_args(text: str) -> tuple[int, float, float]:
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"--bilateral takes 'd,sigma_color,sigma_space', got {text!r}") from None
    if len(parts) != 3:
        raise ValueError(f"--bilateral takes three numbers 'd,sigma_color,sigma_space', got {text!r}")
    return int(parts[0]), parts[1], parts[2]
