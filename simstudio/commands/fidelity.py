"""`fidelity`: FID, KID, precision/recall, density/coverage (and IS with Inception) between two image sets."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fidelity", help="how close image set B is to A: KID, FID, precision/recall, density/coverage",
        description="A and B are dataset run ids or image folders (root/<class>/*, e.g. a GAN or simulator "
                    "export). Features: inception (torchvision ImageNet weights; needs them cached or a "
                    "network), pixels, or a classifier run id (penultimate features, a domain space).")
    p.add_argument("a", help="reference set (real images)")
    p.add_argument("b", help="set to judge (simulator / GAN output)")
    p.add_argument("--features", default="inception",
                   help="inception | pixels | CLASSIFIER_RUN (default inception)")
    p.add_argument("--classes", help="comma-separated classes to compare (default all images)")
    p.add_argument("--max-images", type=int, default=0, help="cap per set, seeded subset (0 = all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from simstudio.eval.fidelity import FidelityConfig, compare_image_sets, describe_report
    from simstudio.jobs import JobContext

    classes = [c.strip() for c in (args.classes or "").split(",") if c.strip()]
    config = FidelityConfig(a=args.a, b=args.b, features=args.features, max_images=args.max_images,
                            seed=args.seed, classes=classes)
    report = compare_image_sets(config, JobContext.local(echo=True))
    print(json.dumps(report, indent=2) if args.json else describe_report(report))
    return 0
