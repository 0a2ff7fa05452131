"""Data efficiency: "how many real images is the simulator worth?"

A curve of test ROC-AUC (and balanced accuracy) against real training images per class, one line per
arm (real only, real + classical augmentation, pretrain on simulated then fine-tune, real + simulated
mixed, optionally a GAN/refined source), and for each synthetic line and size n the number of real images
the real-only line needs to reach the same AUC ("worth N", `stats.worth_n_bootstrap`).

The config names the lines once (`curve_arms`) and the sizes once (`real_sizes`); `expand_curve` turns
them into ordinary arms (`"<line> · <n>/class"`, `real_per_class=n`, `curve=<line>`), so planning,
training, resume, guard rails and the per-arm statistics are the experiment machinery's own. The subsets
are nested: one permutation of each class's training pool per repeat, every size a prefix of it
(`nested_order`/`nested_take`), so a larger set holds every image of a smaller one and the arms of one
repeat at one size train on the very same real images.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

ALL = 0  # a size of 0 real images per class means the whole training pool
SYNTHETIC_COMPOSITIONS = ("synthetic", "mix", "balance", "pretrain")


# -- config: lines x sizes -> arms ----------------------------------------------------------------
def curve_arm_name(line: str, n: int) -> str:
    return f"{line} · all" if n == ALL else f"{line} · {n}/class"


def expand_curve(cfg):
    """`cfg` with every `curve_arms` line trained at every `real_sizes` size added to its arms (arms a
    previous expansion made are made again, so expanding twice gives the same arms). Lines and arms drawing
    on an optional synthetic source that has no folder or preset yet are left out."""
    if not cfg.curve_arms and not any(_unfilled(cfg, a) for a in cfg.arms):
        return cfg
    sizes = list(cfg.real_sizes)
    if cfg.curve_arms and not sizes:
        raise ValueError("curve_arms need real_sizes (real images per class, e.g. [25, 50, 100, 0]; 0 = all)")
    if any(not isinstance(n, int) or n < 0 for n in sizes) or len(set(sizes)) != len(sizes):
        raise ValueError(f"real_sizes must be distinct whole numbers >= 0 (0 = all), got {sizes}")
    ordered = sorted(n for n in sizes if n != ALL) + ([ALL] if ALL in sizes else [])
    lines = [t.name for t in cfg.curve_arms]
    if len(set(lines)) != len(lines):
        raise ValueError(f"curve_arms names must be unique, got {lines}")
    arms = [a for a in cfg.arms if not a.curve and not _unfilled(cfg, a)]
    for t in cfg.curve_arms:
        if t.real_per_class or t.train_fraction:
            raise ValueError(f"curve arm {t.name!r}: its real images per class come from real_sizes")
        if _unfilled(cfg, t):
            continue
        for n in ordered:
            budget_of = curve_arm_name(t.budget_of, n) if t.budget_of in lines else t.budget_of
            arms.append(dataclasses.replace(t, name=curve_arm_name(t.name, n), real_per_class=n, curve=t.name,
                                            budget_of=budget_of, model=dict(t.model)))
    baseline = cfg.baseline
    names = {a.name for a in arms}
    if baseline and baseline not in names and ordered:
        # the baseline names a size this expansion has not (e.g. 'real only · all' without 0 in real_sizes):
        # that line at its largest size
        for line in lines:
            if baseline.startswith(f"{line} · "):
                baseline = curve_arm_name(line, ordered[-1])
    return dataclasses.replace(cfg, arms=arms, baseline=baseline)


def _unfilled(cfg, arm) -> bool:
    if arm.composition not in SYNTHETIC_COMPOSITIONS:
        return False
    match = [s for s in cfg.synthetic if s.name == arm.synthetic] if arm.synthetic else cfg.synthetic[:1]
    return bool(match) and match[0].optional and not match[0].path and not match[0].preset


# -- planning: nested, stratified subsets ---------------------------------------------------------
def nested_order(pool: np.ndarray, labels: np.ndarray, n_classes: int, rng) -> list[np.ndarray]:
    """Each class's training-pool rows in one random order; a subset of n per class is the first n of
    every class (so subsets are stratified, and a larger one contains every smaller one)."""
    pool = np.sort(np.asarray(pool, dtype=np.int64))
    return [rng.permutation(pool[labels[pool] == c]) for c in range(n_classes)]


def nested_take(order: list[np.ndarray], n: int, classes: list[str], what: str) -> np.ndarray:
    """The first `n` rows of every class of `order` (sorted), or a ValueError naming the short class."""
    short = [f"{classes[c]} has {len(rows)}" for c, rows in enumerate(order) if len(rows) < n]
    if short:
        raise ValueError(
            f"{what}: needs {n} real images per class from the training pool, but {', '.join(short)}; "
            "give smaller real sizes (--real-sizes)"
        )
    return np.sort(np.concatenate([rows[:n] for rows in order])).astype(np.int64)


# -- analysis: the curve and worth N --------------------------------------------------------------
def has_curve(cfg) -> bool:
    return any(a.curve for a in cfg.arms)


def real_line(cfg) -> str:
    """The reference line: the first line of real-only arms."""
    for a in cfg.arms:
        if a.curve and a.composition == "real":
            return a.curve
    raise ValueError("a data-efficiency curve needs a real-only line (composition 'real') to measure against")


def curve_summary(cfg, arm_entries: list[dict], arm_preds: dict) -> dict | None:
    """The curve (per line: x = real images per class, mean and 95 % band of ROC-AUC and balanced accuracy
    over seeds and test images), worth-N of every other line against the real-only one, in distribution
    and out of distribution where an OOD test set was given. `arm_preds[arm] = (test, ood)` stacks as
    analysis._stack makes them: (rows, y, proba (R, N, C)) or None."""
    from simstudio.experiments import stats

    if not has_curve(cfg):
        return None
    ref = real_line(cfg)
    # x of a size-0 ("all") arm: the real images per class it trained on (the mean, for unequal classes)
    pool_per_class = {e["name"]: float(np.mean(list(e["train_counts"].get("real", {}).values()) or [0]))
                      for e in arm_entries}
    lines: dict[str, list] = {}
    for a in cfg.arms:
        if a.curve:
            lines.setdefault(a.curve, []).append(a)
    out = {"reference": ref, "x_label": "real training images per class", "lines": {}, "parts": {}}
    for line, arms in lines.items():
        comp = arms[0].composition
        out["lines"][line] = {"composition": comp, "synthetic": arms[0].synthetic if comp in
                              SYNTHETIC_COMPOSITIONS else "", "arms": [a.name for a in arms]}
    for part, idx in (("test", 0), ("ood", 1)):
        got = _part_curve(cfg, lines, ref, arm_preds, idx, pool_per_class, stats)
        if got is not None:
            out["parts"][part] = got
    return out if out["parts"] else None


def _x(arm, pool_per_class: dict) -> float:
    return float(arm.real_per_class) if arm.real_per_class else pool_per_class.get(arm.name, 0.0)


def _part_curve(cfg, lines, ref, arm_preds, idx, pool_per_class, stats) -> dict | None:
    """One test set's curve: lines x sizes that have predictions, and worth N where the real-only line has
    at least two sizes."""
    y = None
    table = {}
    for line, arms in lines.items():
        pts = []
        for a in arms:
            stack = arm_preds.get(a.name, (None, None))[idx]
            if stack is None:
                continue
            rows, yy, proba = stack
            if y is None:
                y, rows0 = yy, rows
            elif not np.array_equal(rows, rows0):
                raise ValueError(f"arm {a.name!r} was tested on other images than the rest of the curve")
            pts.append((_x(a, pool_per_class), a.name, proba))
        if pts:
            table[line] = pts
    if y is None or ref not in table:
        return None
    seeds = min(p.shape[0] for pts in table.values() for _, _, p in pts)
    # the curve and worth N pair units by seed: seed r of every arm trained on the same nested subset
    stacks = {line: (np.array([x for x, _, _ in pts]), [n for _, n, _ in pts],
                     np.stack([p[:seeds] for _, _, p in pts])) for line, pts in table.items()}
    try:
        boot = stats.curve_bootstrap(y, {k: v[2] for k, v in stacks.items()}, n_boot=cfg.n_boot,
                                     level=cfg.level, seed=cfg.seed)
    except ValueError as exc:  # a class missing from a tiny test set
        return {"error": str(exc)}
    out = {"n_test": int(len(y)), "seeds": int(seeds), "level": cfg.level, "lines": {}, "worth": []}
    for line, (x, names, _) in stacks.items():
        b = boot[line]
        out["lines"][line] = {"x": x.tolist(), "arms": names,
                              **{m: {k: b[m][k].tolist() for k in ("mean", "low", "high")} for m in b}}
    rx = stacks[ref][0]
    if len(rx) >= 2:
        for line, (x, _names, _) in stacks.items():
            if line == ref:
                continue
            res = stats.worth_n_bootstrap(rx, boot[ref]["roc_auc"]["draws"], boot[ref]["roc_auc"]["point"], x,
                                          boot[line]["roc_auc"]["draws"], boot[line]["roc_auc"]["point"],
                                          level=cfg.level)
            for xi, r in zip(x, res, strict=True):
                out["worth"].append({"line": line, "n": float(xi), **r,
                                     "text": worth_text(line, xi, r, rx.max(), cfg.level)})
    out["n_max"] = float(rx.max())
    return out


def _fmt_n(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or float(v).is_integer() else f"{v:.1f}"


def worth_text(line: str, n: float, r: dict, n_max: float, level: float = 0.95) -> str:
    """'<line> at 50 real/class ≈ 90 real/class (95 % CI 70–120)', with 'no measurable gain' when the
    interval holds n, 'more than all N' when the target is above everything the real-only line reached,
    'fewer than M' below its smallest size."""

    def bound(v, flag):
        if flag == "above":
            return f"more than all {_fmt_n(n_max)}"
        if flag == "below":
            return f"fewer than {_fmt_n(v)}"
        return _fmt_n(v)

    pct = f"{round(level * 100):d} % CI"
    head = f"{line} at {_fmt_n(n)} real/class ≈ {bound(r['worth'], r['flag'])} real/class"
    if r["low_flag"] == r["high_flag"] == "above":
        ci = f"({pct} also more than all {_fmt_n(n_max)})"
    else:
        dash = " to " if r["low_flag"] or r["high_flag"] else "–"
        ci = f"({pct} {bound(r['low'], r['low_flag'])}{dash}{bound(r['high'], r['high_flag'])})"
    if r["verdict"] == "no measurable gain":
        return f"{head} {ci}: no measurable gain"
    if r["verdict"] == "measurable loss":
        return f"{head} {ci}: a measurable loss against real only at {_fmt_n(n)}/class"
    return f"{head} {ci}"


def curve_rows(curve: dict | None, part: str = "test") -> list[dict]:
    """The curve as a table (what the CLI prints and the report shows): one row per line and size."""
    if not curve or part not in curve.get("parts", {}) or "lines" not in curve["parts"][part]:
        return []
    p = curve["parts"][part]
    pct = f"{round(p['level'] * 100):d}%"
    worth = {(w["line"], w["n"]): w for w in p["worth"]}
    rows = []
    for line, d in p["lines"].items():
        for i, x in enumerate(d["x"]):
            row = {"line": line, "real/class": _fmt_n(x)}
            for m, label in (("roc_auc", "ROC-AUC"), ("balanced_accuracy", "balanced accuracy")):
                if m in d:
                    row[label] = f"{d[m]['mean'][i]:.3f}"
                    row[f"{label} {pct} band"] = f"[{d[m]['low'][i]:.3f}, {d[m]['high'][i]:.3f}]"
            w = worth.get((line, x))
            row["worth (real/class)"] = "" if w is None else _worth_cell(w, curve["parts"][part])
            if w is not None and "diff" in w:
                row[f"Δ ROC-AUC vs {curve['reference']} [{pct} CI]"] = (
                    f"{w['diff']:+.3f} [{w['diff_low']:+.3f}, {w['diff_high']:+.3f}]")
            rows.append(row)
    return rows


def _worth_cell(w: dict, part: dict) -> str:
    text = worth_text("", w["n"], w, part.get("n_max", math.nan), part["level"])
    return text.split("≈ ", 1)[1].replace(" real/class", "", 1)


# -- showing it: figure, text lines, report section -----------------------------------------------
PART_NAMES = {"test": "real test set", "ood": "out-of-distribution test set"}


def curve_figure(curve: dict | None):
    """ROC-AUC (top) and balanced accuracy (bottom) against real images per class on a log axis, one line
    per arm with its 95 % band; the out-of-distribution test set, when there is one, dashed beside it."""
    from simstudio import plots

    parts = {k: v for k, v in (curve or {}).get("parts", {}).items() if "lines" in v}
    if not parts:
        return plots.empty_figure("the data-efficiency curve appears when the first sizes finish")
    order = list(curve["lines"])
    panels = []
    for m, label in (("roc_auc", "ROC-AUC"), ("balanced_accuracy", "balanced accuracy")):
        series = {}
        for part, p in parts.items():
            for line, d in p["lines"].items():
                if m not in d:
                    continue
                name = line if part == "test" else f"{line} (OOD)"
                series[name] = {"x": d["x"], "mean": d[m]["mean"], "low": d[m]["low"], "high": d[m]["high"],
                                "colour": order.index(line), "dash": part != "test"}
        panels.append((label, series))
    first = next(iter(parts.values()))
    band = f"{round(first['level'] * 100):d} % band over seeds and test images"
    title = f"Data efficiency: metric vs real training images per class (mean of {first['seeds']} seeds; {band})"
    return plots.curve_band_figure(panels, curve.get("x_label", "real images per class"), title=title)


def worth_lines(summary: dict) -> list[str]:
    """The worth-N sentences, in distribution first, then out of distribution."""
    curve = summary.get("data_efficiency") or {}
    out = []
    for part, p in curve.get("parts", {}).items():
        if "error" in p:
            out.append(f"{PART_NAMES[part]}: worth N not computed: {p['error']}")
            continue
        prefix = "" if part == "test" else "out of distribution: "
        out += [prefix + w["text"] for w in p.get("worth", [])]
    return out


def curve_text(summary: dict) -> list[str]:
    """What the CLI prints: the curve table per test set, then the worth-N lines."""
    curve = summary.get("data_efficiency")
    if not curve:
        return []
    lines = []
    for part, p in curve["parts"].items():
        rows = curve_rows(curve, part)
        if not rows:
            continue
        lines.append(f"\ndata efficiency on the {PART_NAMES[part]} ({p['n_test']} images, {p['seeds']} seeds; "
                     f"band: {round(p['level'] * 100):d} % bootstrap over seeds and test images):")
        cols = list(rows[0])
        widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
        lines.append("  ".join(c.ljust(widths[c]) for c in cols))
        lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols) for r in rows]
    worth = worth_lines(summary)
    if worth:
        lines.append(f"\nworth N (real images per class the '{curve['reference']}' line needs for the same AUC):")
        lines += [f"  {w}" for w in worth]
    return lines


def report_section(summary: dict, figure_html: str) -> str:
    """The report's data-efficiency section: the curve, the worth-N lines and the curve table."""
    import html

    curve = summary.get("data_efficiency")
    if not curve:
        return ""
    e = html.escape
    parts = ["<h2>How many real images is the synthetic data worth?</h2>", f"<div class='fig'>{figure_html}</div>"]
    worth = worth_lines(summary)
    if worth:
        items = "".join(f"<li>{e(w)}</li>" for w in worth)
        parts.append(f"<p>Worth N: the real images per class the <b>{e(curve['reference'])}</b> line needs to "
                     f"reach the same ROC-AUC.</p><ul class='verdicts' id='worth-n'>{items}</ul>")
    for part in curve["parts"]:
        rows = curve_rows(curve, part)
        if rows:
            head = "".join(f"<th>{e(c)}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
            parts.append(f"<h3>{e(PART_NAMES[part].capitalize())}</h3><table id='curve-{part}'><thead><tr>{head}"
                         f"</tr></thead><tbody>{body}</tbody></table>")
    parts.append(
        "<p class='note'>Each point: the mean over seeds of one arm trained on that many real images per class "
        "(nested subsets: a larger set holds every image of a smaller one; seed r of every arm trains on the "
        "same subset). Band and intervals: percentile bootstrap that resamples the test images (within each "
        "class) and the seeds, the same draw for every arm and size. Worth N reads the real-only curve, made "
        "monotone (isotonic) and interpolated linearly in log(size), at the arm's AUC; it is never "
        "extrapolated: above the real-only curve's best it says 'more than all N', below its smallest size "
        "'fewer than' that size. 'No measurable gain' when the interval includes the arm's own n.</p>")
    return "\n".join(parts)
