"""`generate`: N images per class from a GAN run or checkpoint into a dataset folder with a manifest."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate", help="write N GAN images per class into DIR/<class>/*.png + manifest.csv",
        description="Generate a synthetic dataset (the simulator's layout, usable as a classifier's "
                    "synthetic source) from a GAN run id, a model's checkpoint folder or a .pt file.")
    p.add_argument("checkpoint", help="GAN run id/folder or checkpoint file")
    p.add_argument("--per-class", type=int, default=100, help="images per class (default 100)")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--classes", help="comma-separated subset of the classes the GAN makes")
    p.add_argument("--seed", type=int, default=0, help="image i of a class uses seed + i")
    p.add_argument("--which", choices=["best", "last"], default="best", help="checkpoint per model")
    p.add_argument("--translate", metavar="FOLDER",
                   help="CycleGAN: translate the X-class images of this folder / dataset run "
                        "(--per-class caps how many)")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--device")
    p.set_defaults(func=run)


def run(args) -> int:
    from simstudio.jobs import run_in_foreground
    from simstudio.train.generate import GenerateConfig, check_generate_config, generate_images

    config = GenerateConfig(
        checkpoint=args.checkpoint, out=args.out, per_class=args.per_class, seed=args.seed, which=args.which,
        classes=[c.strip() for c in (args.classes or "").split(",") if c.strip()],
        translate=args.translate or "", batch_size=args.batch_size, device=args.device or "")
    check_generate_config(config)
    r, result = run_in_foreground("generate", generate_images, config)
    if r.status != "finished" or result is None:
        print(f"run {r.id}: {r.status}")
        if r.error:
            print(r.error.strip().splitlines()[0])
        return 1
    counts = ", ".join(f"{c}: {n}" for c, n in result["counts"].items())
    print(f"wrote {result['images']} images ({counts}) to {result['out']} "
          f"at {result['images_per_s']} images/s")
    print(f"manifest: {result['manifest']}")
    return 0
