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
