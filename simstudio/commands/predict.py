"""`predict IMAGE...`: P(malignant) of each image from a shipped model (default) or a training run, and
optionally the Grad-CAM overlays."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="P(malignant) of images from the shipped model or a training run "
                                       "(research demo, not a medical device)",
                       description="Print P(positive class) per image (any size; made square by resizing, as "
                                   "the importer does). --model takes a shipped model's name (models/), a "
                                   "training run id or a checkpoint; default: the shipped default model.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--model", default="", help="shipped model name, training run id or checkpoint file")
    p.add_argument("--gradcam", metavar="OUT_DIR", help="write <image>_gradcam.png overlays here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from simstudio.eval.predict import NOT_A_DEVICE, load_predictor, predict_files

    predictor = load_predictor(args.model)
    rows = predict_files(predictor, args.images, gradcam_dir=args.gradcam)
    if args.json:
        print(json.dumps({"model": predictor.name, "positive_class": predictor.positive_class,
                          "note": NOT_A_DEVICE, "predictions": rows}, indent=2))
        return 0
    print(f"P({predictor.positive_class}) by {predictor.name} ({NOT_A_DEVICE}):")
    for row in rows:
        cam = f"   Grad-CAM: {row['gradcam']}" if row.get("gradcam") else ""
        print(f"{row['p_positive']:.4f}  {row['file']}{cam}")
    return 0
