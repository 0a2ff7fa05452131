"""`runs`: list the run store (jobs past and present), or show one run."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="list runs in the run store, or show one")
    p.add_argument("run", nargs="?", help="a run id to show (config, status, result)")
    p.add_argument("--kind", help="only runs of this kind (dataset, simulate, train, gan, experiment, ...)")
    p.set_defaults(func=run)


def run(args) -> int:
    from simstudio.runs import list_runs, open_run

    if args.run:
        r = open_run(args.run)
        print(json.dumps({"id": r.id, "kind": r.kind, "status": r.status, "config": r.config,
                          "result": r.result, "error": r.error}, indent=2))
        return 0
    rows = [r.summary() for r in list_runs(kind=args.kind)]
    if not rows:
        print("no runs yet")
        return 0
    for row in rows:
        print(f"{row['id']:<44} {row['status']:<12} {row['progress']:<10} {row['message']}")
    return 0
