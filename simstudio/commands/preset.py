"""`preset`: write the default simulator preset as JSON to edit, or check an edited one."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("preset", help="write the default simulator preset JSON (to edit), or check one",
                       description="Write the default simulator preset (class distributions over every "
                                   "lesion parameter) to FILE, edit it, and pass it to `simulate --preset`.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", metavar="FILE", help="write the default preset here")
    what.add_argument("--check", metavar="FILE", help="load a preset and say what it makes")
    p.add_argument("--task", choices=["binary", "three_class"], default="binary",
                   help="binary: benign (nevus + seborrheic keratosis) vs malignant (melanoma); "
                        "three_class: one class per preset")
    p.set_defaults(func=run)


def run(args) -> int:
    from simstudio.sim.presets import default_preset, joint_names, load_preset, save_preset
    from simstudio.sim.render import fitted_renderer, fitted_renderer_note

    if args.write:
        save_preset(default_preset(args.task), args.write)
        print(f"wrote the default {args.task} preset to {args.write}")
        return 0
    study = load_preset(args.check)
    for name in study.output_classes:
        mix = ", ".join(f"{p} {w:g}" for p, w in study.classes[name].items())
        print(f"{name}: {mix}")
    # joint draws, e.g. the camera of each real photo (fit-simulator --camera photos)
    groups = [("every class", study.acquisition), *((f"class preset {k}", v) for k, v in study.lesion.items()),
              *((f"class {k}", v) for k, v in study.acquisition_by_class.items())]
    for where, dists in groups:
        for key, spec in dists.items():
            if len(joint_names(key)) > 1:
                print(f"{', '.join(joint_names(key))}: drawn together from {len(spec['rows'])} rows ({where})")
    prov = study.provenance or {}
    if prov.get("max_c2st"):
        from simstudio.experiments.fit_keep import realism_summary

        print(realism_summary(prov))
    if prov.get("confirm"):
        from simstudio.experiments.fit_keep import confirm_summary

        print(confirm_summary(prov))
    fitted_with = fitted_renderer(study.provenance)
    if fitted_with is not None:
        print(fitted_renderer_note(fitted_with))
    # draws added to a fitted preset after its fit: the fit's figures above no longer describe it alone
    for change in prov.get("amended", []):
        print(f"Amended after the fit ({change.get('when', 'undated')}): {change['what']}; "
              f"{change.get('evidence', 'no evidence recorded')}")
    print(f"{args.check}: ok ({study.mode} preset)")
    return 0
