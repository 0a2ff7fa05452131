"""Which measured lesion statistics, alone and in pairs, tell a synthetic set from a real one within a class.

A two-sample test in the statistics space says *that* the sets differ; this says *where*. Each statistic is
cut into quantile bins of the two sets pooled, and a cell-count classifier (log ratio of synthetic to real
frequency per cell, cross-fitted on two halves so no image is scored by counts it is in) gives a held-out
AUC for every statistic alone and for every pair of statistics. A pair whose joint cells separate the sets
better than either statistic alone is a *relation* the generator gets wrong: each marginal can match while
how the two go together does not (how much redder than its skin a lesion is on a red skin, say).

Within each class, not pooled: pooled over classes, a real set's class-linked acquisition (one class
photographed on redder skin) reads as a relation between statistics that a fair-mode simulator must not
copy. With hundreds of pairs some gain by chance, so the same search with the set labels shuffled gives the
largest gain noise reaches (`chance_gain`); only pairs well above it point at something.

`c2st_by_group` asks the coarser question first: the two-sample test on the lesion statistics alone and on
the acquisition (photo) statistics alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

BINS = 5  # quantile bins per statistic (+1 for "not measured"): 36 cells per pair at ~200 images per set
MIN_PER_SET = 20
SHUFFLES = 3  # chance_gain is the largest gain over this many label shufflings


def telling_statistics(real: dict[str, np.ndarray], synthetic: dict[str, np.ndarray], real_labels: np.ndarray,
                       synthetic_labels: np.ndarray, classes: Sequence[str], *, top: int = 5, bins: int = BINS,
                       seed: int = 0) -> dict:
    """Per class with >= MIN_PER_SET images in each set: the `top` statistics that tell the sets apart
    best alone ({stat, auc, real_quartiles, synthetic_quartiles}), the `top` pairs whose joint bins beat both of
    their statistics alone ({a, b, auc, gain}), and `chance_gain`, the largest pair gain with the set
    labels shuffled. `real` and `synthetic` map statistic -> values per image (NaN where not measured)."""
    names = [n for n in real if n in synthetic]
    real_labels, synthetic_labels = np.asarray(real_labels), np.asarray(synthetic_labels)
    out = {"bins": bins, "classes": {}}
    for i, cls in enumerate(classes):
        ra, sb = real_labels == i, synthetic_labels == i
        if min(ra.sum(), sb.sum()) < MIN_PER_SET:
            continue
        X = np.vstack([np.r_[np.asarray(real[n], float)[ra], np.asarray(synthetic[n], float)[sb]] for n in names]).T
        is_syn = np.r_[np.zeros(ra.sum(), bool), np.ones(sb.sum(), bool)]
        out["classes"][cls] = _one_class(X, is_syn, names, top, bins, np.random.default_rng(seed + i))
    return out


def c2st_by_group(real: dict[str, np.ndarray], synthetic: dict[str, np.ndarray], real_labels: np.ndarray,
                  synthetic_labels: np.ndarray, classes: Sequence[str], *, classifier: str = "logistic",
                  seed: int = 0) -> dict:
    """Is the gap in the lesion or in the photo? The two-sample test on each group of statistics alone
    (`lesion_stats.STATISTICS`): {group: {"all": pooled C2ST, "per_class": {class: C2ST}}} as dicts.

    Read lesion statistics per class (each class's lesions should match) and acquisition statistics pooled:
    a fair-mode simulator draws one camera for every class, so it can match the real cameras pooled, while
    per class the real set's class-linked acquisition (REAL-STATS: benign skin a* 32, malignant 14) keeps
    the acquisition C2ST above 0.5 by design."""
    from simstudio.eval.domain_gap import c2st
    from simstudio.eval.lesion_stats import ACQUISITION_STATS, LESION_STATS, statistics_matrix

    real_labels, synthetic_labels = np.asarray(real_labels), np.asarray(synthetic_labels)
    n = len(real_labels)
    out = {}
    for group, names in (("lesion", LESION_STATS), ("acquisition", ACQUISITION_STATS)):
        X = statistics_matrix({k: np.r_[np.asarray(real[k], float), np.asarray(synthetic[k], float)]
                               for k in names}, names)
        fa, fb = X[:n], X[n:]
        if min(len(fa), len(fb)) < 4:
            continue
        per_class = {}
        for i, cls in enumerate(classes):
            ra, sb = real_labels == i, synthetic_labels == i
            if min(ra.sum(), sb.sum()) >= MIN_PER_SET:
                per_class[cls] = c2st(fa[ra], fb[sb], classifier=classifier, seed=seed).as_dict()
        out[group] = {"all": c2st(fa, fb, classifier=classifier, seed=seed).as_dict(), "per_class": per_class}
    return out


def format_c2st_groups(groups: dict) -> str:
    """One line per group: pooled C2ST and per class, as `c2st_by_group` returns them."""
    lines = []
    for group, how in (("lesion", "read per class"), ("acquisition", "read pooled; fair mode shares it")):
        if group not in groups:
            continue
        g = groups[group]
        per = ", ".join(f"{c} {r['auc']:.3f}" for c, r in g["per_class"].items())
        lines.append(f"  {group} statistics only ({how}): pooled {g['all']['auc']:.3f} "
                     f"[{g['all']['ci'][0]:.3f}, {g['all']['ci'][1]:.3f}]" + (f"; {per}" if per else ""))
    return "\n".join(lines)


def _one_class(X: np.ndarray, is_syn: np.ndarray, names: list[str], top: int, bins: int, rng) -> dict:
    usable = [j for j in range(X.shape[1]) if np.unique(X[~np.isnan(X[:, j]), j]).size > 1]
    codes = {j: _bin_codes(X[:, j], bins) for j in usable}
    fold = _halves(is_syn, rng)
    single = {j: _held_out_auc(codes[j], bins + 1, is_syn, fold) for j in usable}
    pairs = _pair_gains(codes, single, bins, is_syn, fold)
    chance = 0.0
    for _ in range(SHUFFLES):
        shuffled = rng.permutation(is_syn)
        null_single = {j: _held_out_auc(codes[j], bins + 1, shuffled, fold) for j in usable}
        chance = max([chance, *(g for g, *_ in _pair_gains(codes, null_single, bins, shuffled, fold))])
    best = sorted(usable, key=lambda j: -single[j])[:top]
    return {
        "n_real": int((~is_syn).sum()), "n_synthetic": int(is_syn.sum()),
        "single": [{"stat": names[j], "auc": single[j], "real_quartiles": _quartiles(X[~is_syn, j]),
                    "synthetic_quartiles": _quartiles(X[is_syn, j])} for j in best],
        "pairs": [{"a": names[a], "b": names[b], "auc": auc, "gain": gain}
                  for gain, auc, a, b in sorted(pairs, reverse=True)[:top]],
        "chance_gain": float(chance),
    }


def _pair_gains(codes: dict, single: dict, bins: int, is_syn: np.ndarray, fold: np.ndarray) -> list[tuple]:
    k = bins + 1
    rows = []
    for a, b in itertools.combinations(sorted(codes), 2):
        auc = _held_out_auc(codes[a] * k + codes[b], k * k, is_syn, fold)
        rows.append((auc - max(single[a], single[b]), auc, a, b))
    return rows


def _bin_codes(values: np.ndarray, bins: int) -> np.ndarray:
    """Quantile bin 0..bins-1 of each value (ties share a bin), `bins` where it was not measured."""
    ok = ~np.isnan(values)
    edges = np.unique(np.quantile(values[ok], np.linspace(0, 1, bins + 1)[1:-1]))
    codes = np.full(len(values), bins, np.int64)
    codes[ok] = np.searchsorted(edges, values[ok], side="right")
    return codes


def _halves(is_syn: np.ndarray, rng) -> np.ndarray:
    """0/1 per image, each set split in two random halves."""
    fold = np.zeros(len(is_syn), np.int64)
    for group in (is_syn, ~is_syn):
        idx = rng.permutation(np.flatnonzero(group))
        fold[idx[::2]] = 1
    return fold


def _held_out_auc(cells: np.ndarray, n_cells: int, is_syn: np.ndarray, fold: np.ndarray) -> float:
    """AUC of P(synthetic) from cell counts of the other half (add-half smoothing, per-set frequencies)."""
    score = np.empty(len(cells))
    for f in (0, 1):
        train, test = fold != f, fold == f
        syn = np.bincount(cells[train & is_syn], minlength=n_cells) + 0.5
        real = np.bincount(cells[train & ~is_syn], minlength=n_cells) + 0.5
        ratio = np.log(syn / syn.sum()) - np.log(real / real.sum())
        score[test] = ratio[cells[test]]
    return _auc(score, is_syn)


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney ROC-AUC with ties counted half (scores take few values: one `unique` gives the ranks)."""
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    mid_rank = np.cumsum(counts) - (counts - 1) / 2
    n_pos = int(positive.sum())
    n_neg = len(score) - n_pos
    return float((mid_rank[inverse][positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _quartiles(values: np.ndarray) -> list[float] | None:
    """[25th, 50th, 75th percentile] of the measured values: a spread that differs shows as well as a shift."""
    values = values[~np.isnan(values)]
    return [float(q) for q in np.percentile(values, [25, 50, 75])] if values.size else None


def format_telling_stats(telling: dict, markdown: bool = False) -> str:
    """Lines (or Markdown tables) of `telling_statistics`' result, one block per class."""
    lines = []
    for cls, r in telling.get("classes", {}).items():
        singles = ", ".join(f"{s['stat']} {s['auc']:.2f} (real {_fmt(s['real_quartiles'])}, synthetic "
                            f"{_fmt(s['synthetic_quartiles'])})" for s in r["single"])
        above = [p for p in r["pairs"] if p["gain"] > r["chance_gain"]]
        if markdown:
            lines += [f"**{cls}** ({r['n_real']} real, {r['n_synthetic']} synthetic)", "",
                      "| statistic | AUC alone | real: median [quartiles] | synthetic: median [quartiles] |",
                      "|---|---|---|---|"]
            lines += [f"| {s['stat']} | {s['auc']:.3f} | {_fmt(s['real_quartiles'])} | "
                      f"{_fmt(s['synthetic_quartiles'])} |" for s in r["single"]]
            lines += ["", "| statistic | with | AUC together | gain over the better alone |", "|---|---|---|---|"]
            lines += [f"| {p['a']} | {p['b']} | {p['auc']:.3f} | +{p['gain']:.3f} |" for p in above]
            lines += [f"| *chance* | *labels shuffled* | | +{r['chance_gain']:.3f} |", ""]
        else:
            lines.append(f"  {cls} ({r['n_real']} real, {r['n_synthetic']} synthetic): alone (AUC) {singles}")
            lines += [f"    {p['a']} with {p['b']}: AUC {p['auc']:.3f} together, +{p['gain']:.3f} over the "
                      f"better alone" for p in above]
            lines.append(f"    (the largest gain with the set labels shuffled: +{r['chance_gain']:.3f}"
                         + ("; no pair above it)" if not above else ")"))
    return "\n".join(lines)


def _fmt(q: list[float] | None) -> str:
    return "not measured" if q is None else f"{q[1]:.3g} [{q[0]:.3g}, {q[2]:.3g}]"
