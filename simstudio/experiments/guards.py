"""Guard rails checked before any training: same class set in every arm, no test image in any training set.

Leakage is checked by file content (sha1 of the bytes), not by name: a test image copied into a
synthetic folder (or saved by a GAN that memorised it byte for byte) is caught wherever it sits.
A whole synthetic folder counts as training data, not only the images an arm happens to draw from it.
"""

from __future__ import annotations

import numpy as np

SHOW = 5  # examples named in an error message


def check_class_sets(cfg, real, synthetic: dict, units, ood=None) -> None:
    """Every arm must train on exactly the classes of the test set; refuse otherwise, naming the arms."""
    test_classes = set(real.classes)
    problems = []
    for name, ds in synthetic.items():
        extra = sorted(set(ds.classes) - test_classes)
        if extra:
            problems.append(
                f"synthetic source {name!r} has class(es) {', '.join(extra)} that the real "
                f"test set ({', '.join(real.classes)}) does not"
            )
    seen = set()
    for u in units:
        if u.arm in seen:
            continue
        seen.add(u.arm)
        trained = {c for part in ("real", "synthetic") for c, n in u.counts.get(part, {}).items() if n > 0}
        if trained != test_classes:
            missing = sorted(test_classes - trained)
            problems.append(
                f"arm {u.arm!r} trains on {', '.join(sorted(trained)) or 'no images'}"
                + (f" (missing {', '.join(missing)})" if missing else "")
            )
    if ood is not None and set(ood.classes) != test_classes:
        problems.append(
            f"the out-of-distribution test set has classes {', '.join(ood.classes)}, "
            f"the real set {', '.join(real.classes)}"
        )
    if problems:
        raise ValueError(
            "arms with different class sets cannot be compared on one test set; refused "
            "before any training: " + "; ".join(problems)
        )


def check_leakage(cfg, real, synthetic: dict, units, ood=None) -> None:
    """Refuse when a test image (in- or out-of-distribution) is byte-identical to a training image: a real
    one in the same unit's training or validation rows (with k-fold each image is a test image in one
    fold only), or any image in a synthetic folder an arm draws from."""
    hashes = np.asarray(real.hashes)
    ood_tests = (
        {}
        if ood is None
        else {h: f"out-of-distribution test image {f}" for f, h in zip(ood.files, ood.hashes, strict=True)}
    )
    all_tests = dict(ood_tests)
    found, total = [], 0
    for u in units:
        tests = {hashes[row]: f"test image {real.files[row]}" for row in u.test_rows}
        all_tests.update(tests)
        for row in list(u.train_rows) + list(u.val_rows):
            h = hashes[row]
            hit = tests.get(h) or ood_tests.get(h)
            if hit:
                total += 1
                if len(found) < SHOW:
                    found.append(f"{hit} = real training image {real.files[row]} (arm {u.arm!r})")
    arms_by_source: dict[str, list[str]] = {}
    for u in units:
        if u.synthetic and u.arm not in arms_by_source.setdefault(u.synthetic, []):
            arms_by_source[u.synthetic].append(u.arm)
    for name, arms in arms_by_source.items():
        ds = synthetic[name]
        hits = [(f, h) for f, h in zip(ds.files, ds.hashes, strict=True) if h in all_tests]
        total += len(hits)
        used_by = ", ".join(repr(a) for a in arms)
        for f, h in hits[: max(0, SHOW - len(found))]:
            found.append(
                f"{all_tests[h]} = {f} in synthetic folder {name!r} ({ds.root}), used by arm {used_by}"
            )
    if total:
        more = f" (and {total - len(found)} more)" if total > len(found) else ""
        raise ValueError(
            f"leakage: {total} test image(s) also appear in training data, so the test would reward "
            "memorisation; refused before any training: " + "; ".join(found) + more
        )


def check_fit_leakage(real, synthetic: dict, units, ood=None, allow: bool = False) -> list[str]:
    """Refuse a synthetic source drawn from a simulator preset that was *fitted* to some of this
    experiment's test images: the fit saw them, so testing on them flatters the preset. The fitted preset's
    provenance lists the sha1 of every real image the fit read (see experiments/simfit.py); the export
    folder's marker carries the preset, so this holds for preset sources and exported folders alike.
    With `allow` (a tuning run, knowingly on the fit's own images) the problems are returned instead."""
    import json
    from pathlib import Path

    from simstudio.experiments.simfit import SHA1_PREFIX
    from simstudio.sim.export import MARKER

    used = {u.synthetic for u in units if u.synthetic}
    if not used:
        return []
    tests = {real.hashes[row][:SHA1_PREFIX]: real.files[row] for u in units for row in u.test_rows}
    if ood is not None:
        tests.update({h[:SHA1_PREFIX]: f for f, h in zip(ood.files, ood.hashes, strict=True)})
    problems = []
    for name in sorted(used):
        marker = Path(synthetic[name].root) / MARKER
        try:
            provenance = json.loads(marker.read_text(encoding="utf-8"))["preset"].get("provenance") or {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not a simulator export (a GAN's output, a hand-made folder): nothing was fitted
        fitted_on = set()
        level = provenance
        while isinstance(level, dict):  # a fit of a fitted preset: every fit in the chain saw images
            fitted_on.update(level.get("real_sha1", []))
            level = level.get("base_provenance")
        seen = [tests[h] for h in fitted_on if h in tests]
        if seen:
            problems.append(
                f"synthetic source {name!r} comes from a preset fitted to {len(seen)} of the test images "
                f"(e.g. {', '.join(sorted(seen)[:SHOW])}; fit on {provenance.get('dataset', '?')}, parts "
                f"{'+'.join(provenance.get('parts', []))})"
            )
    if problems and not allow:
        raise ValueError(
            "leakage: " + "; ".join(problems) + ". Test on the split the fit kept its test part out of "
            "(split 'dataset' with the same dataset) or on real images the fit never saw; refused before any "
            "training"
        )
    return problems
