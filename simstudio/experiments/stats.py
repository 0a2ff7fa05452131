"""Paired statistics for comparing classifiers tested on the same images.

Every comparison here is *paired*: both arms scored the same test images, so the tests use the
per-image correlation instead of treating the two AUCs as independent (which would hide real
differences behind a too-wide interval).

Probability arrays are `(N, C)` for one trained model or `(R, N, C)` for R repeats (seeds) of an arm.
With repeats, a metric is the mean over repeats, and the bootstrap resamples the repeats as well as
the images, so the interval covers seed-to-seed spread too. DeLong's and McNemar's tests need one
score per image: with repeats they use the repeat-averaged probabilities.

References (one line each):
- paired, class-stratified percentile bootstrap: Efron & Tibshirani 1993; stratified as pROC does.
- DeLong, DeLong & Clarke-Pearson 1988 (Biometrics 44:837), fast midrank form of Sun & Xu 2014
  (IEEE Signal Processing Letters 21:1389).
- McNemar 1947; exact binomial form below 25 discordant pairs (a common rule, e.g. Fagerland 2013).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

METRICS = ("roc_auc", "balanced_accuracy")
METRIC_LABELS = {"roc_auc": "AUC", "balanced_accuracy": "balanced accuracy"}
EXACT_MCNEMAR_BELOW = 25  # discordant pairs; below this the chi-square approximation is poor
MIN_PER_CLASS = 30  # test images per class below which CIs are wide and DeLong's normal approx. shaky


@dataclass
class BootstrapDiff:
    """Difference `a - b` of one metric, with its paired bootstrap confidence interval."""

    metric: str
    a: float
    b: float
    diff: float
    low: float
    high: float
    level: float
    n_boot: int

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


@dataclass
class DeLongResult:
    """DeLong's test of AUC(a) = AUC(b) on the same images."""

    auc_a: float
    auc_b: float
    diff: float
    se: float
    z: float
    p_value: float
    low: float
    high: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class McNemarResult:
    """McNemar's test of equal accuracy on the same images: only the discordant images count."""

    a_only: int  # images a classified right and b wrong
    b_only: int
    statistic: float
    p_value: float
    method: str  # "exact" (binomial) or "chi2" (with continuity correction)

    def to_dict(self) -> dict:
        return asdict(self)


# -- point metrics --------------------------------------------------------------------------------
def roc_auc(y_true, proba) -> float:
    """ROC-AUC: binary from the positive-class column, macro one-vs-rest for more classes (as sklearn)."""
    y, p = _check_inputs(y_true, proba)
    return float(_auc_per_repeat(y, p[None])[0])


def balanced_accuracy(y_true, proba) -> float:
    """Mean per-class recall of the arg-max prediction."""
    y, p = _check_inputs(y_true, proba)
    correct = p.argmax(-1) == y
    return float(np.mean([correct[y == c].mean() for c in np.unique(y)]))


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value, NaN for none)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def mean_interval(values, level: float = 0.95) -> tuple[float, float] | None:
    """Student-t interval of the mean of independent repeats (seeds); None below two values."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size < 2:
        return None
    m, s = mean_std(v)
    half = float(sps.t.ppf(0.5 + level / 2, v.size - 1)) * s / math.sqrt(v.size)
    return m - half, m + half


def format_mean_std(values, digits: int = 3) -> str:
    m, s = mean_std(values)
    if math.isnan(m):
        return "n/a"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


# -- paired bootstrap -----------------------------------------------------------------------------
def paired_bootstrap_diff(
    y_true,
    proba_a,
    proba_b,
    metrics=METRICS,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    resample_repeats: bool = True,
) -> dict[str, BootstrapDiff]:
    """Percentile CI of metric(a) - metric(b) from resampling the shared test images.

    Images are resampled within each class (class counts stay fixed, so every draw has both classes
    and a defined AUC); both arms see the same draw of images, which is what makes it paired. With
    repeats and `resample_repeats`, each arm's repeats are resampled too.
    """
    y = np.asarray(y_true)
    pa = _as_repeats(proba_a, y)
    pb = _as_repeats(proba_b, y)
    order = np.argsort(y, kind="stable")
    y_sorted = y[order]
    pa, pb = pa[:, order], pb[:, order]
    _, counts = np.unique(y_sorted, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng(seed)

    point = {m: (_metric(m, y_sorted, pa).mean(), _metric(m, y_sorted, pb).mean()) for m in metrics}
    diffs = {m: np.empty(n_boot) for m in metrics}
    chunk = max(1, 4_000_000 // max(1, (pa.shape[0] + pb.shape[0]) * y.size))
    for lo in range(0, n_boot, chunk):
        nb = min(chunk, n_boot - lo)
        # class-stratified image indices, one row per draw, laid out class by class like y_sorted
        idx = np.concatenate(
            [s + rng.integers(0, n, size=(nb, n)) for s, n in zip(starts, counts, strict=True)], axis=1
        )
        ra = _repeat_draw(rng, nb, pa.shape[0], resample_repeats)
        rb = _repeat_draw(rng, nb, pb.shape[0], resample_repeats)
        sa = pa[ra[:, :, None], idx[:, None, :]]  # (nb, Ra, N, C)
        sb = pb[rb[:, :, None], idx[:, None, :]]
        for m in metrics:
            va = _metric(m, y_sorted, sa.reshape(-1, *sa.shape[2:])).reshape(nb, -1).mean(1)
            vb = _metric(m, y_sorted, sb.reshape(-1, *sb.shape[2:])).reshape(nb, -1).mean(1)
            # rounding drops float noise (1e-16) so identical arms give an interval of exactly 0
            diffs[m][lo : lo + nb] = np.round(va - vb, 12)
    alpha = (1 - level) / 2
    out = {}
    for m in metrics:
        a, b = point[m]
        low, high = np.quantile(diffs[m], [alpha, 1 - alpha])
        out[m] = BootstrapDiff(
            metric=m,
            a=float(a),
            b=float(b),
            diff=float(a - b),
            low=float(low),
            high=float(high),
            level=level,
            n_boot=n_boot,
        )
    return out


# -- DeLong ---------------------------------------------------------------------------------------
def delong_covariance(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for K score vectors on the same binary-labelled images.

    `scores` is (K, N) (or (N,) for one). Positives are `y_true == 1`. Fast midrank algorithm of
    Sun & Xu 2014: O(K N log N) instead of DeLong's O(K m n) pairwise placements.
    """
    y = np.asarray(y_true).astype(int)
    if set(np.unique(y)) - {0, 1}:
        raise ValueError("DeLong's test needs binary labels 0/1")
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    pos, neg = s[:, y == 1], s[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"DeLong's test needs at least 2 images of each class, got {m} and {n}")
    tx = sps.rankdata(pos, axis=1)  # midranks within positives
    ty = sps.rankdata(neg, axis=1)
    tz = sps.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = tz[:, :m].sum(axis=1) / (m * n) - (m + 1.0) / (2.0 * n)
    v10 = (tz[:, :m] - tx) / n  # placement of each positive among the negatives
    v01 = 1.0 - (tz[:, m:] - ty) / m  # share of positives above each negative
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


def delong_test(y_true, score_a, score_b, level: float = 0.95) -> DeLongResult:
    """Two-sided DeLong test for the difference of two correlated AUCs (binary task)."""
    aucs, cov = delong_covariance(y_true, np.vstack([score_a, score_b]))
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    zcrit = sps.norm.ppf(0.5 + level / 2)
    if se == 0.0:  # identical placements: no evidence of a difference unless the AUCs differ exactly
        z, p = (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    else:
        z = diff / se
        p = float(2 * sps.norm.sf(abs(z)))
    return DeLongResult(
        auc_a=float(aucs[0]),
        auc_b=float(aucs[1]),
        diff=diff,
        se=se,
        z=float(z),
        p_value=p,
        low=float(diff - zcrit * se),
        high=float(diff + zcrit * se),
    )


# -- McNemar --------------------------------------------------------------------------------------
def mcnemar_test(correct_a, correct_b, exact: bool | None = None) -> McNemarResult:
    """McNemar's test on paired right/wrong outcomes.

    `exact=None` picks the exact binomial test below 25 discordant images and the chi-square test with
    continuity correction ((|b - c| - 1)^2 / (b + c), 1 df) otherwise.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"McNemar needs paired outcomes of equal length, got {a.shape} and {b.shape}")
    a_only = int(np.sum(a & ~b))
    b_only = int(np.sum(~a & b))
    n = a_only + b_only
    if exact is None:
        exact = n < EXACT_MCNEMAR_BELOW
    if n == 0:
        return McNemarResult(a_only, b_only, 0.0, 1.0, "exact" if exact else "chi2")
    if exact:
        p = float(sps.binomtest(a_only, n, 0.5, alternative="two-sided").pvalue)
        return McNemarResult(a_only, b_only, float(min(a_only, b_only)), min(p, 1.0), "exact")
    stat = (abs(a_only - b_only) - 1.0) ** 2 / n
    return McNemarResult(a_only, b_only, float(stat), float(sps.chi2.sf(stat, 1)), "chi2")


# -- arms against a baseline ----------------------------------------------------------------------
def compare_to_baseline(
    y_true, proba_arm, proba_base, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict:
    """Everything the report says about one arm against the baseline, as plain JSON-able numbers."""
    y = np.asarray(y_true)
    pa, pb = _as_repeats(proba_arm, y), _as_repeats(proba_base, y)
    boot = paired_bootstrap_diff(y, pa, pb, n_boot=n_boot, level=level, seed=seed)
    mean_a, mean_b = pa.mean(0), pb.mean(0)
    out = {"bootstrap": {m: d.to_dict() for m, d in boot.items()}}
    if pa.shape[-1] == 2:
        try:
            out["delong"] = delong_test((y == 1).astype(int), mean_a[:, 1], mean_b[:, 1], level).to_dict()
        except ValueError as exc:
            out["delong"] = {"error": str(exc)}
    else:
        out["delong"] = {"error": "DeLong's test here is for two classes; see the bootstrap CI"}
    out["mcnemar"] = mcnemar_test(mean_a.argmax(-1) == y, mean_b.argmax(-1) == y).to_dict()
    out["verdict"] = verdict(boot["roc_auc"])
    return out


def verdict(d: BootstrapDiff, digits: int = 3) -> str:
    """One line in plain words: the difference and its CI when the CI excludes 0, else 'no ... difference'."""
    label = METRIC_LABELS.get(d.metric, d.metric)
    ci = f"{round(d.level * 100):d}% CI [{d.low:.{digits}f}, {d.high:.{digits}f}]"
    text = f"{d.diff:+.{digits}f} {label}, {ci}"
    return text if d.significant else f"no significant difference ({text})"


def sample_size_warnings(
    y_true, classes: list[str] | None = None, repeats: int | None = 1, min_per_class: int = MIN_PER_CLASS
) -> list[str]:
    """Plain warnings when the test set (or the number of repeats, unless None) is too small for the
    statistics."""
    y = np.asarray(y_true)
    out = []
    labels, counts = np.unique(y, return_counts=True)
    for lab, n in zip(labels, counts, strict=True):
        if n < min_per_class:
            name = classes[int(lab)] if classes is not None and int(lab) < len(classes) else str(lab)
            out.append(
                f"only {n} test images of class '{name}' (fewer than {min_per_class}): the AUC and "
                "balanced-accuracy intervals are wide and DeLong's normal approximation is unreliable"
            )
    if classes is not None and len(labels) < len(classes):
        missing = [c for i, c in enumerate(classes) if i not in set(labels.tolist())]
        out.append(f"the test set has no images of {', '.join(missing)}: AUC is undefined for that class")
    if repeats is None:
        return out
    if repeats < 2:
        out.append("a single repeat per arm: no ± std (seed-to-seed spread) can be given")
    elif repeats < 3:
        out.append(f"{repeats} repeats per arm: the ± std is a rough estimate (use 3 or more)")
    return out


# -- internals ------------------------------------------------------------------------------------
def _check_inputs(y_true, proba) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype=float)
    if p.ndim == 1:  # a score for the positive class
        p = np.stack([1 - p, p], axis=-1)
    if p.ndim != 2 or p.shape[0] != y.shape[0]:
        raise ValueError(f"expected probabilities of shape (N, C) for {y.shape[0]} labels, got {p.shape}")
    return y, p


def _as_repeats(proba, y) -> np.ndarray:
    p = np.asarray(proba, dtype=float)
    if p.ndim == 1:
        p = np.stack([1 - p, p], axis=-1)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or p.shape[1] != len(y):
        raise ValueError(f"expected probabilities (N, C) or (R, N, C) for {len(y)} images, got {p.shape}")
    return p


def _repeat_draw(rng, nb: int, r: int, resample: bool) -> np.ndarray:
    if resample and r > 1:
        return rng.integers(0, r, size=(nb, r))
    return np.broadcast_to(np.arange(r), (nb, r))


def _metric(name: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Metric of each of the rows of p (M, N, C) against the same labels y (N,), as (M,)."""
    if name == "roc_auc":
        return _auc_per_repeat(y, p)
    if name == "balanced_accuracy":
        correct = p.argmax(-1) == y
        return np.mean([correct[:, y == c].mean(axis=1) for c in np.unique(y)], axis=0)
    raise ValueError(f"unknown metric {name!r}; one of {METRICS}")


def _auc_per_repeat(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC with midranks for each row; macro one-vs-rest over classes beyond two."""
    n_classes = p.shape[-1]
    cols = [1] if n_classes == 2 else range(n_classes)
    per_class = []
    for c in cols:
        pos = y == c
        n1, n0 = int(pos.sum()), int((~pos).sum())
        if n1 == 0 or n0 == 0:
            raise ValueError(f"AUC needs images of both sides of class {c} vs rest in the test set")
        ranks = sps.rankdata(p[..., c], axis=-1)
        per_class.append((ranks[:, pos].sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0))
    return np.mean(per_class, axis=0)


# -- data efficiency: a curve over real training-set sizes, and what a synthetic arm is worth ----------
def curve_bootstrap(
    y_true, lines: dict, metrics=METRICS, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> dict:
    """Mean metric over seeds at every size of every line, with a percentile band over draws that resample
    the test images (within each class) and the seeds, the same draw for every line and size.

    `lines[name]` is (S, R, N, C): S sizes, R seeds, N shared test images. Seeds are paired: draw b takes
    the same seed indices in every line (seed r of every arm trained on the same real subset), so a
    comparison between lines inside one draw stays paired. Returns, per line and metric, `point` (S,),
    `mean` (= point), `low`, `high` (S,) and `draws` (n_boot, S)."""
    y = np.asarray(y_true)
    order = np.argsort(y, kind="stable")
    y_sorted = y[order]
    arrays = {}
    for name, p in lines.items():
        p = np.asarray(p, dtype=float)
        if p.ndim != 4 or p.shape[2] != y.size:
            raise ValueError(f"line {name!r}: expected probabilities (sizes, seeds, {y.size}, C), got {p.shape}")
        arrays[name] = p[:, :, order]
    seeds = {p.shape[1] for p in arrays.values()}
    if len(seeds) != 1:
        raise ValueError(f"every line needs the same number of seeds to pair them, got {sorted(seeds)}")
    r = seeds.pop()
    _, counts = np.unique(y_sorted, return_counts=True)
    if len(counts) < 2:
        raise ValueError("the test set needs images of at least two classes")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rng = np.random.default_rng(seed)
    out = {}
    for name, p in arrays.items():
        s = p.shape[0]
        out[name] = {m: {"point": _metric(m, y_sorted, p.reshape(-1, *p.shape[2:])).reshape(s, r).mean(1),
                         "draws": np.empty((n_boot, s))} for m in metrics}
    cells = sum(p.shape[0] for p in arrays.values()) * r * y.size
    chunk = max(1, 4_000_000 // max(1, cells))
    for lo in range(0, n_boot, chunk):
        nb = min(chunk, n_boot - lo)
        idx = np.concatenate(
            [s + rng.integers(0, n, size=(nb, n)) for s, n in zip(starts, counts, strict=True)], axis=1
        )
        ridx = _repeat_draw(rng, nb, r, True)
        for name, p in arrays.items():
            s = p.shape[0]
            sample = p[:, ridx[:, :, None], idx[:, None, :]]  # (S, nb, R, N, C)
            flat = sample.reshape(-1, *sample.shape[3:])
            for m in metrics:
                vals = _metric(m, y_sorted, flat).reshape(s, nb, r).mean(2)
                out[name][m]["draws"][lo : lo + nb] = vals.T
    alpha = (1 - level) / 2
    for name in out:
        for m in metrics:
            d = out[name][m]
            d["mean"] = d["point"]
            d["low"], d["high"] = np.quantile(d["draws"], [alpha, 1 - alpha], axis=0)
    return out


def isotonic(values) -> np.ndarray:
    """The non-decreasing sequence closest to `values` in least squares (pool-adjacent-violators)."""
    blocks: list[list[float]] = []  # [sum, count]
    for v in np.asarray(values, dtype=float):
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    return np.concatenate([np.full(int(c), s / c) for s, c in blocks])


def real_equivalent(sizes, values, target: float) -> tuple[float, str]:
    """The training-set size at which a curve reaches `target`: the curve made monotone (isotonic) and
    read linearly between its sizes on a log axis, so doubling the data counts the same anywhere.

    Returns (size, flag): flag "" inside the curve; "below" when the target is under the curve's value at
    its smallest size (size = the smallest: the answer is "fewer than that"); "above" when the target is
    higher than the curve ever gets (size = the largest: "more than all of it"); never extrapolated."""
    x = np.asarray(sizes, dtype=float)
    order = np.argsort(x)
    x = x[order]
    if len(x) < 2 or np.any(x <= 0) or len(np.unique(x)) != len(x):
        raise ValueError(f"a curve needs at least two distinct positive sizes, got {sizes}")
    iso = isotonic(np.asarray(values, dtype=float)[order])
    target = float(target)
    tol = 1e-12  # pooled means carry float noise: a target equal to a point must read that point
    if target > iso[-1] + tol:
        return float(x[-1]), "above"
    if target < iso[0] - tol:
        return float(x[0]), "below"
    k = int(np.argmax(iso >= target - tol))
    if k == 0:
        return float(x[0]), ""
    t = (target - iso[k - 1]) / (iso[k] - iso[k - 1])
    return float(np.exp(np.log(x[k - 1]) + t * (np.log(x[k]) - np.log(x[k - 1])))), ""


def worth_n_bootstrap(ref_sizes, ref_draws, ref_point, arm_sizes, arm_draws, arm_point,
                      level: float = 0.95) -> list[dict]:
    """For every size n of an arm: the real images per class the reference (real-only) curve needs to reach
    the arm's metric there ("worth N"), with a percentile interval over bootstrap draws, and a verdict.

    `ref_draws` (B, S_ref) and `arm_draws` (B, S_arm) are the curves of the same draws (paired: same test
    images and seeds, from `curve_bootstrap`); `*_point` are the estimates on all the data. Each result:
    worth/flag (see `real_equivalent`), low/low_flag, high/high_flag; where the reference has the arm's own
    size, the paired difference arm - reference there (diff, diff_low, diff_high); and `verdict`
    (`worth_verdict`)."""
    ref_sizes = np.asarray(ref_sizes, dtype=float)
    ref_draws, arm_draws = np.asarray(ref_draws, float), np.asarray(arm_draws, float)
    if ref_draws.shape[0] != arm_draws.shape[0]:
        raise ValueError("the reference and the arm need the same bootstrap draws")
    alpha = (1 - level) / 2
    b = ref_draws.shape[0]
    lo_i, hi_i = int(np.floor(alpha * (b - 1))), int(np.ceil((1 - alpha) * (b - 1)))
    out = []
    for j, n in enumerate(np.asarray(arm_sizes, dtype=float)):
        worth, flag = real_equivalent(ref_sizes, ref_point, arm_point[j])
        signed = np.empty(b)  # log size, with -inf / +inf for below / above the curve
        for i in range(b):
            v, f = real_equivalent(ref_sizes, ref_draws[i], arm_draws[i, j])
            signed[i] = -np.inf if f == "below" else np.inf if f == "above" else np.log(v)
        signed.sort()
        r = {"worth": worth, "flag": flag, **_bound("low", signed[lo_i], ref_sizes),
             **_bound("high", signed[hi_i], ref_sizes)}
        same = np.flatnonzero(np.isclose(ref_sizes, n))
        if same.size:
            k = int(same[0])
            d = np.sort(np.round(arm_draws[:, j] - ref_draws[:, k], 12))
            r.update(diff=float(arm_point[j] - ref_point[k]), diff_low=float(d[lo_i]), diff_high=float(d[hi_i]))
        r["verdict"] = worth_verdict(float(n), r)
        out.append(r)
    return out


def worth_verdict(n: float, r: dict) -> str:
    """'gain' when the whole worth-N interval is above the arm's own n real images per class, 'measurable
    loss' when it is below, else 'no measurable gain' (the interval includes n). Where the paired difference
    with the real-only arm at the same n is known, its interval must exclude 0 the same way too: a non-
    monotone real-only curve alone (its n-point under its monotone fit) never makes a gain or a loss."""
    low = -math.inf if r["low_flag"] == "below" else math.inf if r["low_flag"] == "above" else r["low"]
    high = -math.inf if r["high_flag"] == "below" else math.inf if r["high_flag"] == "above" else r["high"]
    has_diff = "diff_low" in r
    # sizes are compared after the round trip through logs, so an exact match is not lost to 1e-13
    if low > n * (1 + 1e-9) and (not has_diff or r["diff_low"] > 0):
        return "gain"
    if high < n * (1 - 1e-9) and (not has_diff or r["diff_high"] < 0):
        return "measurable loss"
    return "no measurable gain"


def _bound(name: str, v: float, sizes) -> dict:
    if v == -np.inf:
        return {name: float(np.min(sizes)), f"{name}_flag": "below"}
    if v == np.inf:
        return {name: float(np.max(sizes)), f"{name}_flag": "above"}
    return {name: float(np.exp(v)), f"{name}_flag": ""}
