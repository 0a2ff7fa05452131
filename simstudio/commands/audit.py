"""`audit DATASET [--classifier RUN ...]`: how much of a dataset's labels the photo's acquisition gives
away (cross-validated AUC on acquisition, lesion and both feature sets, every feature ranked), and whether
trained classifiers move when only the acquisition of real test images is edited."""

from __future__ import annotations


def add_parser(sub) -> None:
    from simstudio.eval.audit_edits import EDIT_NAMES

    p = sub.add_parser("audit", help="shortcut audit: does acquisition (cast, vignette, hair, blur) predict "
                                     "the label, and does a classifier lean on it?",
                       description="Measure acquisition (skin cast, vignette/field stop, hair, ruler, ink, "
                                   "sharpness, noise, JPEG, lesion at the edge) and lesion (ABCD) features of "
                                   "every image, and report the cross-validated ROC-AUC of each feature set "
                                   "with a 95%% CI. With --classifier, edit the acquisition of the test images "
                                   "(every other pixel kept) and report how each classifier's answers move.")
    p.add_argument("dataset", help="dataset run id or image folder (class subfolders)")
    p.add_argument("--classifier", action="append", default=[], metavar="RUN",
                   help="a trained classifier run id or checkpoint to audit (repeat for several)")
    p.add_argument("--part", default="", choices=["", "train", "val", "test"],
                   help="dataset audit on this part of the split only (default: every image)")
    p.add_argument("--classifier-part", default="test", choices=["", "train", "val", "test"],
                   help="the classifiers are audited on this part (default test; '' = every image)")
    p.add_argument("--edits", default=",".join(EDIT_NAMES),
                   help=f"comma-separated edits (default all: {','.join(EDIT_NAMES)})")
    p.add_argument("--size", type=int, default=0, help="measure at this side in px (default: the dataset's)")
    p.add_argument("--max-per-class", type=int, default=0, help="at most this many images per class (0 = all)")
    p.add_argument("--workers", type=int, default=0, help="measuring processes (default 0 = every core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from simstudio.commands.gap import job_failed
    from simstudio.eval.audit_run import AuditConfig, format_audit, run_audit
    from simstudio.jobs import run_in_foreground

    config = AuditConfig(dataset=args.dataset, part=args.part, size=args.size, max_per_class=args.max_per_class,
                         classifiers=list(args.classifier), classifier_part=args.classifier_part,
                         edits=[e.strip() for e in args.edits.split(",") if e.strip()], seed=args.seed,
                         workers=args.workers).validate()
    run, result = run_in_foreground("audit", run_audit, config, echo=not args.json)
    if result is None:
        return job_failed(run)
    if args.json:
        slim = json.loads(json.dumps(result))
        for per in (slim.get("classifier_audit") or {}).get("edits", {}).values():
            for e in per.values():
                e.pop("deltas", None)
        print(json.dumps({"run": run.id, **slim}, indent=2))
        return 0
    print(format_audit(result))
    print(f"run: {run.id} (report.html, features.csv, feature_aucs.csv in {run.path})")
    return 0
