"""The paired statistics: checked against sklearn/scipy, hand-worked examples and simulated data."""

import itertools

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from simstudio.experiments import stats


def _proba(score):
    p1 = 1 / (1 + np.exp(-score))
    return np.stack([1 - p1, p1], axis=-1)


def _binormal(rng, n_per_class, d_a, d_b, rho):
    """Scores of two correlated classifiers, equal-variance binormal: AUC = Phi(d / sqrt 2) exactly."""
    y = np.repeat([0, 1], n_per_class)
    noise = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=y.size)
    return y, d_a * (y - 0.5) + noise[:, 0], d_b * (y - 0.5) + noise[:, 1]


def test_point_metrics_equal_sklearn_binary_and_multiclass():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # rounded: ties exercise the midranks
    assert stats.roc_auc(y, _proba(s)) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert stats.balanced_accuracy(y, _proba(s)) == pytest.approx(balanced_accuracy_score(y, s > 0))
    y3 = rng.integers(0, 3, 300)
    p3 = rng.dirichlet([1, 1, 1], 300)
    p3[np.arange(300), y3] += 0.4
    p3 /= p3.sum(1, keepdims=True)
    assert stats.roc_auc(y3, p3) == pytest.approx(roc_auc_score(y3, p3, multi_class="ovr"), abs=1e-12)


def test_delong_hand_checked_example():
    # 3 positives, 2 negatives.  a separates perfectly: AUC 1, every placement 1, zero variance.
    # b: positives .2 .7 .9, negatives .3 .6 -> placements of positives V10 = [0, 1, 1] (AUC 4/6),
    # negatives V01 = [2/3, 2/3].  var(V10_b) = ((2/3)^2 + 2 (1/3)^2) / 2 = 1/3, var(V01_b) = 0,
    # so Var(AUC_a - AUC_b) = (1/3)/3 + 0 = 1/9, SE = 1/3, z = (1 - 2/3) / (1/3) = 1, p = 2(1 - Phi(1)).
    y = [0, 0, 1, 1, 1]
    a = [0.1, 0.2, 0.6, 0.7, 0.8]
    b = [0.3, 0.6, 0.2, 0.7, 0.9]
    r = stats.delong_test(y, a, b)
    assert r.auc_a == pytest.approx(1.0) and r.auc_b == pytest.approx(2 / 3)
    assert r.se == pytest.approx(1 / 3)
    assert r.z == pytest.approx(1.0)
    assert r.p_value == pytest.approx(2 * sps.norm.sf(1.0))
    assert r.p_value == pytest.approx(0.3173, abs=1e-4)


def test_delong_covariance_equals_brute_force_placements_with_ties():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 60)
    scores = np.round(rng.normal(size=(3, 60)) + y, 1)  # many ties
    aucs, cov = stats.delong_covariance(y, scores)

    def psi(x, z):
        return 1.0 if x > z else 0.5 if x == z else 0.0

    pos, neg = scores[:, y == 1], scores[:, y == 0]
    v10 = np.array([[np.mean([psi(x, z) for z in neg[k]]) for x in pos[k]] for k in range(3)])
    v01 = np.array([[np.mean([psi(x, z) for x in pos[k]]) for z in neg[k]] for k in range(3)])
    brute = np.cov(v10) / pos.shape[1] + np.cov(v01) / neg.shape[1]
    np.testing.assert_allclose(aucs, v10.mean(1))
    np.testing.assert_allclose(aucs, [roc_auc_score(y, s) for s in scores])
    np.testing.assert_allclose(cov, brute, atol=1e-14)


def test_delong_on_hanley_mcneil_ct_ratings():
    # Hanley & McNeil 1982 (Radiology 143:29), CT ratings 1-5 of 58 normal and 51 abnormal patients:
    # published AUC 0.893 and SE 0.032 (their approximation; DeLong's estimator is close to it).
    neg = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    pos = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(58, int), np.ones(51, int)]
    aucs, cov = stats.delong_covariance(y, np.r_[neg, pos].astype(float))
    assert round(float(aucs[0]), 3) == 0.893
    assert np.sqrt(cov[0, 0]) == pytest.approx(0.032, abs=0.003)


def test_mcnemar_matches_direct_binomial_and_chi_square():
    rng = np.random.default_rng(3)
    for a_only, b_only in [(0, 0), (3, 9), (10, 14), (20, 40), (60, 45)]:
        both = rng.integers(0, 50)
        a = np.r_[np.ones(a_only), np.zeros(b_only), np.ones(both)].astype(bool)
        b = np.r_[np.zeros(a_only), np.ones(b_only), np.ones(both)].astype(bool)
        r = stats.mcnemar_test(a, b)
        n = a_only + b_only
        assert (r.a_only, r.b_only) == (a_only, b_only)
        if n == 0:
            assert r.p_value == 1.0
        elif n < 25:
            assert r.method == "exact"
            assert r.p_value == pytest.approx(sps.binomtest(a_only, n, 0.5).pvalue)
            # the direct sum: two tails of Binomial(n, 1/2) at least as extreme as the observed split
            k = min(a_only, b_only)
            direct = min(1.0, 2 * sum(sps.binom.pmf(i, n, 0.5) for i in range(k + 1)))
            assert r.p_value == pytest.approx(direct)
        else:
            assert r.method == "chi2"
            stat = (abs(a_only - b_only) - 1) ** 2 / n
            assert r.statistic == pytest.approx(stat)
            assert r.p_value == pytest.approx(sps.chi2.sf(stat, df=1))


def test_bootstrap_ci_covers_the_true_difference_at_about_the_nominal_rate():
    rng = np.random.default_rng(4)
    d_a, d_b = 1.6, 1.2
    true_auc = sps.norm.cdf(d_a / np.sqrt(2)) - sps.norm.cdf(d_b / np.sqrt(2))
    true_bacc = sps.norm.cdf(d_a / 2) - sps.norm.cdf(d_b / 2)  # threshold 0 sits midway between classes
    hits = {"roc_auc": 0, "balanced_accuracy": 0}
    n_sim = 200
    for i in range(n_sim):
        y, sa, sb = _binormal(rng, 100, d_a, d_b, rho=0.5)
        r = stats.paired_bootstrap_diff(y, _proba(sa), _proba(sb), n_boot=400, seed=i)
        hits["roc_auc"] += r["roc_auc"].low <= true_auc <= r["roc_auc"].high
        hits["balanced_accuracy"] += r["balanced_accuracy"].low <= true_bacc <= r["balanced_accuracy"].high
    for metric, h in hits.items():
        # nominal 95%; 200 simulations have a binomial s.d. of 1.5 points, the percentile method runs
        # slightly under nominal at this size
        assert 0.88 <= h / n_sim <= 0.99, (metric, h / n_sim)


def test_bootstrap_pairs_the_images_so_correlated_arms_get_a_narrower_interval():
    rng = np.random.default_rng(5)
    y, sa, sb = _binormal(rng, 150, 1.5, 1.5, rho=0.95)
    paired = stats.paired_bootstrap_diff(y, _proba(sa), _proba(sb), n_boot=500)["roc_auc"]
    # the unpaired width: each arm's own CI half-widths added in quadrature
    aucs, cov = stats.delong_covariance(y, np.vstack([sa, sb]))
    unpaired_halfwidth = 1.96 * np.sqrt(cov[0, 0] + cov[1, 1])
    assert (paired.high - paired.low) / 2 < 0.5 * unpaired_halfwidth


def test_repeats_are_averaged_and_their_spread_widens_the_interval():
    rng = np.random.default_rng(6)
    y, sa, sb = _binormal(rng, 150, 1.5, 1.2, rho=0.6)
    # three "seeds" of arm a that learned the task to quite different degrees
    pa = np.stack([_proba(sa + shift * (y - 0.5)) for shift in (-0.8, 0.0, 0.8)])
    r = stats.paired_bootstrap_diff(y, pa, _proba(sb), n_boot=500, seed=1)["roc_auc"]
    assert r.a == pytest.approx(np.mean([stats.roc_auc(y, p) for p in pa]))
    fixed = stats.paired_bootstrap_diff(y, pa, _proba(sb), n_boot=500, seed=1, resample_repeats=False)
    assert r.high - r.low > fixed["roc_auc"].high - fixed["roc_auc"].low


def test_verdict_words_and_identical_arms():
    d = stats.BootstrapDiff("roc_auc", 0.9, 0.869, 0.031, 0.012, 0.050, 0.95, 2000)
    assert stats.verdict(d) == "+0.031 AUC, 95% CI [0.012, 0.050]"
    d = stats.BootstrapDiff("roc_auc", 0.9, 0.896, 0.004, -0.012, 0.020, 0.95, 2000)
    assert stats.verdict(d).startswith("no significant difference")
    y = np.repeat([0, 1], 40)
    p = _proba(np.linspace(-2, 2, 80))
    same = stats.compare_to_baseline(y, p, p, n_boot=200)
    assert same["bootstrap"]["roc_auc"]["low"] == same["bootstrap"]["roc_auc"]["high"] == 0.0
    assert same["delong"]["p_value"] == 1.0 and same["mcnemar"]["p_value"] == 1.0
    assert same["verdict"].startswith("no significant difference")


def test_mean_std_and_small_sample_warnings():
    assert stats.mean_std([0.8, 0.9, 1.0]) == pytest.approx((0.9, 0.1))
    assert stats.format_mean_std([0.8, 0.9, 1.0]) == "0.900 ± 0.100"
    assert stats.mean_std([0.7]) == (0.7, 0.0)
    warns = stats.sample_size_warnings(np.repeat([0, 1], [12, 80]), ["benign", "malignant"], repeats=1)
    assert any("12 test images of class 'benign'" in w for w in warns)
    assert any("single repeat" in w for w in warns)
    assert stats.sample_size_warnings(np.repeat([0, 1], 50), ["a", "b"], repeats=3) == []


@pytest.mark.parametrize("a_only,b_only", list(itertools.product([0, 1, 7], [0, 5])))
def test_mcnemar_exact_is_symmetric(a_only, b_only):
    a = np.r_[np.ones(a_only), np.zeros(b_only)].astype(bool)
    b = ~a
    assert stats.mcnemar_test(a, b).p_value == pytest.approx(stats.mcnemar_test(b, a).p_value)
