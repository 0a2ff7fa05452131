"""Which statistics, alone and in pairs, tell a synthetic set from a real one within a class."""

import numpy as np

from simstudio.eval.telling_stats import format_telling_stats, telling_statistics


def _sets(n=300, seed=0):
    """Real: y follows x. Synthetic: x and y with the same marginals but unrelated, and w shifted by 1 sd."""
    rng = np.random.default_rng(seed)
    x, noise, z = rng.normal(size=(3, 2 * n))
    y = x + 0.3 * noise
    real = {"x": x[:n], "y": y[:n], "z": z[:n], "w": rng.normal(size=n)}
    synthetic = {"x": x[n:], "y": rng.permutation(y[n:]), "z": z[n:], "w": rng.normal(1.0, 1.0, n)}
    return real, synthetic


def test_a_relation_the_synthetic_set_breaks_is_the_top_pair_well_above_chance():
    real, synthetic = _sets()
    r = telling_statistics(real, synthetic, np.zeros(300, int), np.zeros(300, int), ["benign"])
    c = r["classes"]["benign"]
    assert c["n_real"] == c["n_synthetic"] == 300
    top = c["pairs"][0]
    assert {top["a"], top["b"]} == {"x", "y"}
    assert top["auc"] > 0.7 and top["gain"] > c["chance_gain"] + 0.1
    # alone, x and y tell nothing (same marginals); the shifted w is the statistic that tells most alone
    alone = {s["stat"]: s for s in c["single"]}
    assert c["single"][0]["stat"] == "w" and alone["w"]["auc"] > 0.65
    assert alone["w"]["synthetic_quartiles"][1] > alone["w"]["real_quartiles"][1] + 0.5
    assert all(alone[k]["auc"] < 0.6 for k in ("x", "y", "z") if k in alone)


def test_each_class_is_searched_on_its_own_and_small_or_unmeasured_ones_are_handled():
    real, synthetic = _sets(n=300)
    labels = np.r_[np.zeros(290, int), np.ones(10, int)]       # class 1: too few images to search
    real["never"] = np.full(300, np.nan)                          # a statistic no image could measure
    synthetic["never"] = np.full(300, np.nan)
    real["half"] = np.where(np.arange(300) % 2 == 0, real["z"], np.nan)
    synthetic["half"] = synthetic["z"].copy()
    r = telling_statistics(real, synthetic, labels, labels, ["benign", "malignant"])
    assert list(r["classes"]) == ["benign"]
    c = r["classes"]["benign"]
    assert "never" not in {s["stat"] for s in c["single"]}
    assert all("never" not in (p["a"], p["b"]) for p in c["pairs"])
    # "not measured" is a bin of its own: half the real images lack the statistic, no synthetic one does
    assert c["single"][0]["stat"] == "half" and c["single"][0]["auc"] > 0.7


def test_the_text_and_markdown_name_the_pair_and_the_chance_level():
    real, synthetic = _sets()
    r = telling_statistics(real, synthetic, np.zeros(300, int), np.zeros(300, int), ["benign"])
    text = format_telling_stats(r)
    assert "benign (300 real, 300 synthetic)" in text
    assert ("x with y" in text or "y with x" in text) and "labels shuffled" in text
    md = format_telling_stats(r, markdown=True)
    assert "| statistic | with | AUC together |" in md and "*chance*" in md


def _photo_shifted_sets(n=120, seed=0):
    """Every statistic alike in both sets except the photo: synthetic skin 8 a* units less red, 2 sd of it."""
    from simstudio.eval.lesion_stats import STAT_NAMES

    rng = np.random.default_rng(seed)
    real = {k: rng.normal(size=2 * n) for k in STAT_NAMES}
    synthetic = {k: rng.normal(size=2 * n) for k in STAT_NAMES}
    real["skin_a"] = rng.normal(20, 4, 2 * n)
    synthetic["skin_a"] = rng.normal(12, 4, 2 * n)
    return real, synthetic, np.repeat([0, 1], n)


def test_a_gap_in_the_photo_alone_shows_in_acquisition_statistics_not_in_lesion_ones():
    from simstudio.eval.telling_stats import c2st_by_group, format_c2st_groups

    real, synthetic, labels = _photo_shifted_sets()
    groups = c2st_by_group(real, synthetic, labels, labels, ["benign", "malignant"])
    assert set(groups) == {"lesion", "acquisition"}
    assert groups["acquisition"]["all"]["auc"] > 0.8
    assert groups["lesion"]["all"]["auc"] < 0.65
    assert set(groups["lesion"]["per_class"]) == {"benign", "malignant"}
    assert all(r["auc"] < 0.7 for r in groups["lesion"]["per_class"].values())
    assert all(r["auc"] > 0.75 for r in groups["acquisition"]["per_class"].values())
    # a lesion difference shows in the lesion group
    real["dL"] = real["dL"] - 2.0
    swapped = c2st_by_group(real, synthetic, labels, labels, ["benign", "malignant"], classifier="boosting")
    assert swapped["lesion"]["all"]["auc"] > 0.8
    text = format_c2st_groups(groups)
    assert "lesion statistics only (read per class): pooled" in text and "malignant" in text
    assert "acquisition statistics only (read pooled; fair mode shares it)" in text


def test_a_class_too_small_is_left_out_of_the_groups_per_class():
    from simstudio.eval.telling_stats import c2st_by_group

    real, synthetic, _ = _photo_shifted_sets()
    labels = np.r_[np.zeros(230, int), np.ones(10, int)]
    groups = c2st_by_group(real, synthetic, labels, labels, ["benign", "malignant"])
    assert list(groups["lesion"]["per_class"]) == ["benign"]
