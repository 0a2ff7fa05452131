"""`simulate`: export N procedural lesion images per class into DIR/<class>/*.png + manifest.csv."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "simulate", help="export N simulated lesion images per class into DIR/<class>/*.png + manifest.csv",
        description="Render a labelled synthetic dataset with the procedural lesion simulator on every "
                    "core. The output is identical whatever --workers is; rerunning an interrupted export "
                    "into the same folder finishes it.")
    p.add_argument("--per-class", type=int, required=True, help="images per output class")
    p.add_argument("--size", type=int, default=128, help="image side in px, 32 to 512 (default 128)")
    p.add_argument("--out", required=True, help="output folder (new, empty, or an unfinished export)")
    p.add_argument("--preset", help="simulator preset JSON (default: binary benign/malignant; "
                                    "`python -m simstudio preset --write FILE` writes one to edit)")
    p.add_argument("--workers", type=int, default=0, help="worker threads (default 0 = every core)")
    p.add_argument("--seed", type=int, default=0, help="base seed; image i of class c gets its own seed")
    p.add_argument("--task", choices=["binary", "three_class"], default="binary",
                   help="classes when no --preset: benign (nevus + SK) vs malignant, or one per preset")
    p.add_argument("--masks", action="store_true",
                   help="also write each image's ground-truth masks beside it, named like ISIC 2018: "
                        "<image id>_segmentation.png and <image id>_attribute_<name>.png (pigment_network, "
                        "negative_network, streaks, globules, milia_like_cyst, hair), 0/255 grey PNGs")
    p.set_defaults(func=run)


def run(args) -> int:
    from simstudio.jobs import run_in_foreground
    from simstudio.sim.export import ExportConfig, check_export, export_dataset

    config = ExportConfig(out=args.out, per_class=args.per_class, size=args.size, preset=args.preset,
                          seed=args.seed, workers=args.workers, task=args.task, masks=args.masks)
    check_export(config)  # ranges, preset file and folder: exit 2 before a run is made
    r, result = run_in_foreground("simulate", export_dataset, config)
    if r.status != "finished" or result is None:
        print(f"run {r.id}: {r.status}")
        if r.error:
            print(r.error.strip().splitlines()[0])
        return 1
    counts = ", ".join(f"{c}: {n}" for c, n in result["counts"].items())
    reused = f" ({result['reused']} kept from an earlier run)" if result["reused"] else ""
    print(f"wrote {result['images']} images ({counts}){reused} to {result['out']} "
          f"at {result['images_per_s']} images/s on {result['workers']} worker(s)")
    if result.get("masks"):
        print("masks: <image id>_segmentation.png and <image id>_attribute_<name>.png beside each image")
    print(f"manifest: {result['manifest']} (renderer version {result['renderer_version']})")
    return 0
