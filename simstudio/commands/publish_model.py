"""`publish-model RUN --name NAME`: ship a trained classifier in models/ with a model card written from its
run, an evaluation on held-out real images and reference predictions on the example images."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("publish-model", help="copy a trained classifier into models/ with its model card",
                       description="Writes models/NAME.pt (weights and preprocessing only; loads with "
                                   "torch.load(weights_only=True)), NAME.json and NAME.md: training config, "
                                   "simulator preset and seeds, renderer version, input size, the ROC-AUC with "
                                   "95 %% CIs on real images (--evaluate), and P(positive) on the example images.")
    p.add_argument("run", metavar="RUN", help="finished classifier training run (id or folder) or checkpoint")
    p.add_argument("--name", required=True, help="model name: models/NAME.pt")
    p.add_argument("--evaluate", metavar="DATASET", default="",
                   help="real dataset run (the --part of its saved split) or image folder to measure on")
    p.add_argument("--part", default="test", choices=["test", "val", "train", "all"],
                   help="part of the dataset's split to evaluate on (default test)")
    p.add_argument("--examples", default="", help="folder of example PNGs for the reference predictions "
                                                  "(default assets/examples)")
    p.add_argument("--default", action="store_true", help="make it the model the app and predict use by default")
    p.add_argument("--overwrite", action="store_true", help="replace a model of the same name")
    p.add_argument("--out", default="", help="models folder (default: the repository's models/)")
    p.set_defaults(func=run)


def run(args) -> int:
    from simstudio.commands.gap import job_failed
    from simstudio.experiments.publish import PublishConfig, check_publish, publish_model
    from simstudio.jobs import run_in_foreground

    config = PublishConfig(run=args.run, name=args.name, evaluate=args.evaluate, part=args.part,
                           out=args.out, examples=args.examples, default=args.default,
                           overwrite=args.overwrite)
    check_publish(config)  # bad run, name or dataset: exit 2 before a run is made
    run_, result = run_in_foreground("publish", publish_model, config)
    if result is None:
        return job_failed(run_)
    ev = result["evaluation"]
    if ev:
        print(f"ROC-AUC {ev['roc_auc']:.4f} (95% CI {ev['ci'][0]:.4f}-{ev['ci'][1]:.4f} DeLong, "
              f"{ev['ci_bootstrap'][0]:.4f}-{ev['ci_bootstrap'][1]:.4f} bootstrap) on {ev['n']} images of the "
              f"{ev['part']} part of {ev['dataset']}")
    print(f"published {result['name']}: {result['checkpoint']} ({result['bytes']} bytes), card {result['card']}")
    return 0
