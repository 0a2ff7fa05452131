"""Which trial a fit keeps: the best under the realism cap, confirmed on fresh seeds.

The realism cap (`SimFitConfig.max_c2st`): a trial counts only where the lesion statistics' C2ST is at most
the cap; where none keeps it, the fit keeps the most realistic trial, so it always ends with a preset.

Confirming on fresh seeds, against the winner's curse of a noisy objective:

Every trial of a fit is scored once, with the fit's seed. The best of 30 such scores is biased upward: the
trial that won is partly the one whose noise was kindest. The `sim_auc` objective is noisy: the built-in
preset scored 0.739, 0.850, 0.823, 0.821 and 0.722 on seeds 2-6 (derm-real train+val, 300 simulated images per
class), a spread larger than most fits' gain. So after the search the start preset and the best few trials
are scored again on seeds the search never used, all on the same seeds (paired), and the fit keeps the best
mean. Where no trial beats the start there, the fit says so and keeps the start.
"""

from __future__ import annotations

import numpy as np


def best_trial(study, cap: float):
    """The best scored trial that keeps the realism constraint (C2ST <= cap; cap 0: no constraint); where
    none keeps it, the most realistic trial, so a fit always ends with a preset."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    kept = [t for t in done if not cap or t.user_attrs["c2st"] <= cap]
    if not kept:
        return min(done, key=lambda t: t.user_attrs["c2st"])
    sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
    return max(kept, key=lambda t: (sign * t.value, -t.number))


def realism(trial, cap: float) -> dict:
    """What a constrained fit's result and provenance say about the constraint (nothing when unconstrained)."""
    if not cap:
        return {}
    c2st = float(trial.user_attrs["c2st"])
    return {"max_c2st": cap, "best_c2st": c2st, "constraint_met": c2st <= cap}


def realism_summary(result: dict) -> str:
    """One line on a constrained fit's realism (lesion statistics' C2ST of the kept trial against the cap)."""
    if result["constraint_met"]:
        return (f"Realism constraint kept: the fitted preset's lesion statistics are told from the real ones with "
                f"C2ST {result['best_c2st']:.3f} <= {result['max_c2st']:g}.")
    return (f"⚠ No trial kept the realism constraint (C2ST <= {result['max_c2st']:g}): the fitted preset is the most "
            f"realistic trial (C2ST {result['best_c2st']:.3f}), not the best by {result['objective']}.")


# Candidates re-scored besides the start: the best by the search's own scores. Three catch a runner-up that
# the search ranked below a lucky winner, at 4 x K extra scores.
TOP = 3
SEED_OFFSET = 1000  # fresh seeds are seed + 1000 + r: never the search's seed, nor the preview's (seed + 1)


def fresh_seeds(seed: int, k: int) -> list[int]:
    return [seed + SEED_OFFSET + r for r in range(k)]


def candidates(study, cap: float, start_number: int) -> list:
    """The start trial, then the TOP best completed trials by the search's score (among those under the
    realism cap when there is one), best first."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    start = next(t for t in done if t.number == start_number)
    sign = 1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1
    kept = [t for t in done if t.number != start_number and (not cap or t.user_attrs["c2st"] <= cap)]
    return [start, *sorted(kept, key=lambda t: (-sign * t.value, t.number))[:TOP]]


def confirm(objective, presets: list, seeds: list[int], maximize: bool, progress=None) -> dict:
    """Score each preset (the start first) on every seed; {"seeds", "rows": [{"values", "mean", "sd",
    "minus_start": mean paired difference from the start, "minus_start_sd"}], "kept": index of the best
    mean (ties: the earlier, so the start wins a tie)}."""
    progress = progress or (lambda done, total: None)
    values = np.empty((len(presets), len(seeds)))
    c2st = np.full((len(presets), len(seeds)), np.nan)
    for i, preset in enumerate(presets):
        for j, seed in enumerate(seeds):
            values[i, j], details = objective.reseeded(seed).score(preset)
            c2st[i, j] = details.get("c2st", np.nan)
            progress(i * len(seeds) + j + 1, len(presets) * len(seeds))
    means = values.mean(1)
    sign = 1 if maximize else -1
    kept = int(max(range(len(presets)), key=lambda i: (sign * means[i], -i)))
    rows = []
    for i in range(len(presets)):
        diff = values[i] - values[0]
        rows.append({"values": [round(float(v), 4) for v in values[i]], "mean": round(float(means[i]), 4),
                     "sd": round(float(values[i].std(ddof=1)), 4) if len(seeds) > 1 else 0.0,
                     "minus_start": round(float(diff.mean()), 4),
                     "minus_start_sd": round(float(diff.std(ddof=1)), 4) if len(seeds) > 1 else 0.0,
                     **({"c2st": round(float(np.nanmean(c2st[i])), 4)} if not np.isnan(c2st[i]).all() else {})})
    return {"seeds": list(seeds), "rows": rows, "kept": kept}


def confirm_summary(result: dict) -> str:
    """One line on a confirmed fit: the start and each candidate's mean on the fresh seeds, and which was kept."""
    c = result.get("confirm")
    if not c:
        return ""
    parts = []
    for row in c["rows"]:
        name = "start" if row["trial"] == 0 else f"trial {row['trial']}"
        mark = " (kept)" if row["trial"] == c["kept_trial"] else ""
        delta = "" if row["trial"] == 0 else f", {row['minus_start']:+.4f} ± {row['minus_start_sd']:.4f} vs start"
        parts.append(f"{name} {row['mean']:.4f} ± {row['sd']:.4f}{delta}{mark}")
    head = f"Confirmed on {len(c['seeds'])} fresh seeds ({result['objective']}, mean ± sd): "
    tail = ("" if c["kept_trial"] != 0 else
            " No trial beat the start preset on fresh seeds: the fitted preset is the start.")
    return head + "; ".join(parts) + "." + tail


def confirm_kept(study, cap, objective, presets_of, seeds: list[int], index_of: dict, maximize: bool,
                 ctx) -> tuple:
    """(the kept trial, {"confirm": ...}) after re-scoring the start and the best trials on `seeds`."""
    trials = candidates(study, cap, start_number=min(index_of))
    ctx.log(f"confirming the start and the best {len(trials) - 1} trial(s) on {len(seeds)} fresh seeds")
    out = confirm(objective, [presets_of(t.params) for t in trials], seeds,
                  maximize=maximize,
                  progress=lambda done, total: ctx.progress(done, total, "confirming on fresh seeds"))
    for t, row in zip(trials, out["rows"], strict=True):
        row.update(trial=index_of[t.number], search_value=round(float(t.value), 4))
    kept = trials[out.pop("kept")]
    out["kept_trial"] = index_of[kept.number]
    return kept, {"confirm": out, "confirmed_value": out["rows"][trials.index(kept)]["mean"],
                  "start_confirmed_value": out["rows"][0]["mean"]}
