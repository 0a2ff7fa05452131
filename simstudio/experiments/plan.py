"""From a config to the list of arm x repeat units, each with its exact real rows and synthetic counts.

Planning loads the data (through the shared decoded cache), fixes the test set, and checks the guard
rails, all before any training: a refused experiment costs no training time.

Pairing: within one repeat (or fold) every arm is tested on the same rows, and arms that train on a
fraction of the real data draw the *same* real subset (the draw depends on the repeat, not the arm),
so differences between arms come from the composition, not from a luckier subset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from simstudio.experiments.config import ExperimentConfig, arm_slug
from simstudio.experiments.data_efficiency import nested_order, nested_take
from simstudio.experiments.guards import check_class_sets, check_fit_leakage, check_leakage


@dataclass
class Unit:
    """One arm trained once (one seed, or one fold) and tested on the experiment's real test images."""

    key: str  # folder name under the experiment run's units/
    arm: str
    arm_index: int
    repeat: int  # seed repeat, or fold index with k-fold
    seed: int
    train_rows: list[int]  # rows of the real dataset it trains on (empty for synthetic only)
    val_rows: list[int]
    test_rows: list[int]
    synthetic: str  # source name, "" for none
    counts: dict = field(default_factory=dict)  # planned per class: {"real": {...}, "synthetic": {...}}
    epochs: int = 0
    pretrain_epochs: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Prepared:
    config: ExperimentConfig
    real: object  # ImageDataset
    split: object  # Split
    synthetic: dict  # source name -> ImageDataset
    ood: object | None
    units: list[Unit]
    fit_overlap: list[str] = field(default_factory=list)  # allowed by `fit_overlap_ok`; a warning then
    flipped: object | None = None  # with `flipped_test`: real.images with the test rows flipped
    flip_report: dict | None = None

    @property
    def test_rows(self) -> np.ndarray:
        """Every row some unit tests on: the test part, or with k-fold the whole set."""
        return np.unique(np.concatenate([np.asarray(u.test_rows, dtype=np.int64) for u in self.units]))


def prepare(cfg: ExperimentConfig, run_dir: str | Path | None = None, ctx=None) -> Prepared:
    """Load the data, fix the split (saving it as `split.csv` in the run), plan every unit and check the
    guard rails. Raises ValueError with the reason when the experiment must not run."""
    from simstudio.data import dataset as data_mod
    from simstudio.data import splits as split_mod

    if not cfg.real:
        raise ValueError("no real dataset: give one (--real DATASET, a dataset run id or an image folder)")
    _log(ctx, f"loading real images {cfg.real} at {cfg.image_size}px")
    real = _constancy(cfg, data_mod.load_dataset(cfg.real, cfg.image_size))
    split = _fixed_split(cfg, real, run_dir, split_mod)  # before any export: a bad split fails fast
    synthetic = {}
    needed = {
        cfg.source(a.synthetic).name
        for a in cfg.arms
        if a.composition in ("synthetic", "mix", "balance", "pretrain")
    }
    for src in cfg.synthetic:
        if src.name in needed or src.path:
            if not src.path and src.preset:
                src.path = str(simulate_source(src, ctx))
            if not src.path:
                raise ValueError(f"synthetic source {src.name!r} has no folder: --synthetic {src.name}=DIR")
            _log(ctx, f"loading synthetic images {src.name}: {src.path}")
            synthetic[src.name] = _constancy(cfg, data_mod.load_dataset(src.path, cfg.image_size))
    ood = _constancy(cfg, data_mod.load_dataset(cfg.ood_test, cfg.image_size)) if cfg.ood_test else None

    units = plan_units(cfg, real, split, synthetic)
    check_class_sets(cfg, real, synthetic, units, ood)
    check_leakage(cfg, real, synthetic, units, ood)
    overlap = check_fit_leakage(real, synthetic, units, ood, allow=cfg.fit_overlap_ok)
    prep = Prepared(cfg, real, split, synthetic, ood, units, overlap)
    if cfg.flipped_test:
        prep.flipped, prep.flip_report = flipped_images(cfg, real, prep.test_rows, ctx)
    return prep


def flipped_images(cfg: ExperimentConfig, real, rows: np.ndarray, ctx=None):
    """A copy of the real images whose test `rows` are shortcut-flipped (eval/flipped.py), and its report."""
    from simstudio.eval.flipped import flip_test_set

    _log(ctx, f"building the shortcut-flipped test set ({len(rows)} images)")
    images = np.array(real.images)
    flipped, report = flip_test_set(images[rows], np.asarray(real.labels)[rows], list(real.classes), seed=cfg.seed)
    images[rows] = flipped
    return images, report.to_dict()


def _constancy(cfg: ExperimentConfig, ds):
    """`ds` with Shades-of-Gray applied to every image when the experiment asks for colour constancy (the
    source-file hashes stay, so the leakage guards still see through it)."""
    if not cfg.colour_constancy:
        return ds
    import dataclasses

    from simstudio.data.preprocess import shades_of_gray_all

    return dataclasses.replace(ds, images=shades_of_gray_all(ds.images))


def simulate_source(src, ctx=None) -> Path:
    """The folder of a preset source: exported once per (preset content, per_class, size, seed, renderer
    version) into the run store's cache and reused by every experiment that asks for the same images."""
    import hashlib
    import json

    from simstudio.runs import runs_root
    from simstudio.sim.export import ExportConfig, export_once
    from simstudio.sim.presets import load_preset, preset_to_dict
    from simstudio.sim.render import RENDERER_VERSION, fitted_renderer, fitted_renderer_note

    try:
        study = load_preset(src.preset)
    except ValueError as exc:
        raise ValueError(f"synthetic source {src.name!r}: {exc}") from None
    # The renderer's version is part of the key: a cache drawn by another renderer holds other pictures.
    key = json.dumps([preset_to_dict(study), src.per_class, src.size, src.seed, RENDERER_VERSION], sort_keys=True)
    fitted_with = fitted_renderer(study.provenance)
    if fitted_with not in (None, RENDERER_VERSION):
        _log(ctx, f"note: the images of preset {study.name} differ from the ones its fit saw: it was "
                  f"{fitted_renderer_note(fitted_with)}")
    slug = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in study.name)[:40]
    out = runs_root() / "cache" / "simulated" / f"{slug}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    # Shared by every experiment that asks for the same images, also two running at once (one draws them).
    export_once(ExportConfig(out=str(out), per_class=src.per_class, size=src.size, seed=src.seed,
                             preset=src.preset), ctx,
                announce=f"simulating {src.name!r}: {src.per_class} images per class of preset {study.name} at "
                         f"{src.size} px into {out}")
    return out



def plan_units(cfg: ExperimentConfig, real, split, synthetic: dict) -> list[Unit]:
    """Units in the order they run: repeat by repeat, so after the first round every arm has a result."""
    n_classes = len(real.classes)
    labels = np.asarray(real.labels)
    total_per_class = np.bincount(labels, minlength=n_classes)
    folds = split.k if split.folds is not None else 0
    rounds = folds if folds else cfg.repeats
    base_epochs = int(cfg.model.get("epochs", 10))
    units: list[Unit] = []
    shown: dict[tuple[str, int], tuple[int, int]] = {}  # (training-set size, images shown in all)
    for r in range(rounds):
        if folds:
            pool, test = split.fold_indices(r, real)
            given_val = np.zeros(0, dtype=np.int64)
        else:
            pool, test = split.indices("train", real), split.indices("test", real)
            given_val = split.indices("val", real)
        if len(test) == 0:
            raise ValueError(
                "the split has no test images: an experiment needs a real test set "
                "(a 'test' part, or k-fold folds)"
            )
        rng = np.random.default_rng([cfg.seed, r, 1])
        if not cfg.validation:
            given_val = np.zeros(0, dtype=np.int64)
        elif len(given_val) == 0 and cfg.val_fraction > 0:
            want = np.round(cfg.val_fraction * total_per_class).astype(int)
            given_val = _stratified_draw(pool, labels, want, rng, "validation")
            pool = np.setdiff1d(pool, given_val)
        val = given_val
        # one draw per fraction per repeat, shared by every arm asking for that fraction
        subsets: dict[float, np.ndarray] = {}
        for a in cfg.arms:
            frac = a.train_fraction
            if frac > 0 and frac not in subsets:
                want = np.round(frac * total_per_class).astype(int)
                subsets[frac] = _stratified_draw(
                    pool,
                    labels,
                    want,
                    np.random.default_rng([cfg.seed, r, 2]),
                    f"arm {a.name!r} (train_fraction {frac:g})",
                )
        # one permutation per class per repeat: every per-class size takes a prefix, so sizes are nested
        nested = nested_order(pool, labels, n_classes, np.random.default_rng([cfg.seed, r, 4]))
        for i, a in enumerate(cfg.arms):
            train = subsets.get(a.train_fraction, pool) if a.train_fraction > 0 else pool
            if a.real_per_class:
                train = nested_take(nested, a.real_per_class, real.classes, f"arm {a.name!r}")
            if a.composition == "synthetic":
                train = np.zeros(0, dtype=np.int64)
            syn_name = (
                cfg.source(a.synthetic).name
                if a.composition in ("synthetic", "mix", "balance", "pretrain")
                else ""
            )
            counts = _planned_counts(a, real, labels[train], synthetic.get(syn_name), n_classes)
            n_real, n_syn = sum(counts["real"].values()), sum(counts["synthetic"].values())
            epochs, pre_epochs = _epochs(cfg, a, n_real, n_syn, base_epochs)
            n_train = n_real if a.composition == "pretrain" else n_real + n_syn
            shown[(a.name, r)] = (n_train, n_train * epochs + n_syn * pre_epochs)
            units.append(
                Unit(
                    key=f"{arm_slug(a.name)}-{'f' if folds else 'r'}{r}",
                    arm=a.name,
                    arm_index=i,
                    repeat=r,
                    seed=int(cfg.seed + r),
                    train_rows=train.tolist(),
                    val_rows=val.tolist(),
                    test_rows=test.tolist(),
                    synthetic=syn_name,
                    counts=counts,
                    epochs=epochs,
                    pretrain_epochs=pre_epochs,
                )
            )
    _match_budgets(cfg, units, shown)
    return units


def class_counts(labels, classes: list[str]) -> dict[str, int]:
    per = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    return {c: int(per[i]) for i, c in enumerate(classes)}


# -- internals ------------------------------------------------------------------------------------
def _fixed_split(cfg: ExperimentConfig, real, run_dir, split_mod):
    """The experiment's one split: the run's saved copy when resuming, else the given file, else a new
    seeded split; always saved as `split.csv` in the run so every arm and any re-run tests the same images."""
    saved = Path(run_dir) / "split.csv" if run_dir is not None else None
    if saved is not None and saved.is_file():
        return split_mod.load_split(saved)
    if cfg.split == "dataset":
        split = real.saved_split()
        if split is None:
            raise ValueError(f"split 'dataset': {cfg.real} has no saved split; import it with one (e.g. "
                             "60/20/20) or give a split CSV")
    elif cfg.split:
        split = split_mod.load_split(cfg.split)
    elif cfg.kfold:
        split = split_mod.make_kfold_split(real, k=cfg.kfold, seed=cfg.split_seed)
    else:
        kind, fractions = split_mod.parse_split_spec(cfg.split_spec)
        split = split_mod.make_holdout_split(real, fractions=fractions, seed=cfg.split_seed)
    if saved is not None:
        split_mod.save_split(split, saved)
    return split


def _stratified_draw(pool: np.ndarray, labels: np.ndarray, want: np.ndarray, rng, what: str) -> np.ndarray:
    out = []
    for c, n in enumerate(want):
        rows = pool[labels[pool] == c]
        if n > len(rows):
            raise ValueError(
                f"{what}: needs {n} real images of class {c} from the training pool, "
                f"which has {len(rows)}; lower the fraction"
            )
        out.append(rng.choice(rows, size=int(n), replace=False) if n else np.zeros(0, dtype=np.int64))
    return np.sort(np.concatenate(out)).astype(np.int64)


def _planned_counts(arm, real, train_labels, syn, n_classes: int) -> dict:
    classes = real.classes
    real_counts = (
        np.bincount(train_labels, minlength=n_classes)
        if len(train_labels)
        else np.zeros(n_classes, dtype=int)
    )
    syn_have = np.zeros(n_classes, dtype=int)
    if syn is not None:
        index = {c: i for i, c in enumerate(classes)}
        for lab, n in zip(*np.unique(syn.labels, return_counts=True), strict=True):
            name = syn.classes[int(lab)]
            if name in index:
                syn_have[index[name]] = n
    comp, k = arm.composition, arm.synthetic_per_class
    if comp in ("real", "augment"):
        syn_used = np.zeros(n_classes, dtype=int)
    elif comp in ("synthetic", "pretrain"):
        syn_used = np.minimum(syn_have, k) if (k and comp == "synthetic") else syn_have
    elif comp == "mix":
        # k per class the folder holds: a CycleGAN export of one class (nevus -> melanoma) adds only that
        syn_used = np.where(syn_have > 0, k, 0) if k else syn_have
    else:  # balance: top up every class to the largest real class
        syn_used = real_counts.max() - real_counts
    short = [
        f"{classes[i]}: {int(w)} wanted, {int(h)} in the folder"
        for i, (w, h) in enumerate(zip(syn_used, syn_have, strict=True))
        if w > h
    ]
    if short:
        raise ValueError(
            f"arm {arm.name!r} asks for more synthetic images than its folder holds "
            f"({'; '.join(short)}); export more images or ask for fewer"
        )
    return {
        "real": {c: int(real_counts[i]) for i, c in enumerate(classes)},
        "synthetic": {c: int(syn_used[i]) for i, c in enumerate(classes)},
    }


def _epochs(cfg: ExperimentConfig, arm, n_real: int, n_syn: int, base: int) -> tuple[int, int]:
    """(epochs, pretrain epochs) of an arm: its own `epochs` setting, else the experiment's budget of
    image presentations spread over its training set, else the experiment's epochs. A pretrain arm
    gets the budget once per stage (pretraining is extra work by design, as in hESCnet c)."""
    n_train = n_real if arm.composition == "pretrain" else n_real + n_syn
    if "epochs" in arm.model or not cfg.train_budget:
        epochs = int(arm.model.get("epochs", base))
    else:
        epochs = max(1, round(cfg.train_budget / max(n_train, 1)))
    pre = 0
    if arm.composition == "pretrain":
        pre = arm.pretrain_epochs or (
            max(1, round(cfg.train_budget / max(n_syn, 1))) if cfg.train_budget else epochs
        )
    return epochs, pre


def _match_budgets(cfg: ExperimentConfig, units: list[Unit], shown: dict) -> None:
    """Augment arms train for as many image presentations as the synthetic arm they stand beside: the
    same number of gradient steps, spent on flips/rotations of real images instead of new images."""
    by_arm = {a.name: a for a in cfg.arms}
    # with a shared training budget every arm already gets the same number of steps
    default = (
        ""
        if cfg.train_budget
        else next((a.name for a in cfg.arms if a.composition in ("mix", "balance")), "")
    )
    for u in units:
        arm = by_arm[u.arm]
        ref = arm.budget_of or default
        if arm.composition != "augment" or not ref:
            continue
        own_size = shown[(u.arm, u.repeat)][0]
        u.epochs = max(1, round(shown[(ref, u.repeat)][1] / max(own_size, 1)))
        u.counts["budget_of"] = ref


def _log(ctx, msg: str) -> None:
    if ctx is not None:
        ctx.log(msg)
