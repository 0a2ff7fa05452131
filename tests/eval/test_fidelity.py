"""Fidelity metrics: FID against the closed form, unbiased KID, precision/recall and density/coverage on
point clouds, feature caching, the small-sample warning, a domain feature space from a real classifier,
and a clear message (not a crash) when Inception's weights cannot be had offline."""

import numpy as np
import pytest
import scipy.linalg
import torch

from simstudio.eval.fidelity import (
    FID_RELIABLE_N,
    density_coverage,
    describe_report,
    extract_features,
    feature_space,
    fid,
    fidelity_from_features,
    fidelity_report,
    frechet_distance,
    inception_score,
    kid,
    precision_recall,
)


def closed_form_fid(mu1, s1, mu2, s2):
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                 - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)


def random_cov(rng, d, jitter):
    a = rng.standard_normal((d, d))
    return a @ a.T + jitter * np.eye(d)


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).standard_normal((500, 16))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_the_closed_form_with_scipy_sqrtm():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    s1, s2 = random_cov(rng, 6, 1.0), random_cov(rng, 6, 0.5)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(closed_form_fid(mu1, s1, mu2, s2), rel=1e-9)


def test_frechet_distance_with_a_singular_covariance_uses_the_symmetric_root():
    rng = np.random.default_rng(2)
    low = rng.standard_normal((3, 6))
    s1 = low.T @ low  # rank 3: no Cholesky factor
    s2 = random_cov(rng, 6, 0.5)
    mu = np.zeros(6)
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(closed_form_fid(mu, s1, mu, s2), rel=1e-6)


def test_fid_of_samples_from_two_gaussians_approaches_the_closed_form():
    rng = np.random.default_rng(3)
    mu1, mu2 = np.zeros(4), np.array([1.0, 0.0, 0.5, 0.0])
    s1, s2 = random_cov(rng, 4, 1.0), random_cov(rng, 4, 0.5)
    a = rng.multivariate_normal(mu1, s1, 100_000)
    b = rng.multivariate_normal(mu2, s2, 100_000)
    assert fid(a, b) == pytest.approx(closed_form_fid(mu1, s1, mu2, s2), rel=0.02)


def test_kid_is_unbiased_near_zero_on_identical_distributions_and_positive_when_shifted():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((600, 8)), rng.standard_normal((600, 8))
    same, same_std, m = kid(a, b, n_subsets=50, subset_size=200)
    assert m == 200
    assert abs(same) < 3 * same_std / np.sqrt(50) + 1e-3  # mean of an unbiased estimator of 0
    shifted, _, _ = kid(a, b + 0.5, n_subsets=50, subset_size=200)
    assert shifted > 20 * abs(same) and shifted > 0.01


def test_kid_unbiased_estimator_matches_a_direct_computation():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((40, 5)), rng.standard_normal((40, 5)) + 0.2
    k = lambda a, b: (a @ b.T / 5 + 1) ** 3  # noqa: E731
    m = 40
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    expected = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
    assert kid(x, y, subset_size=40)[0] == pytest.approx(expected, rel=1e-9)


def test_precision_recall_density_coverage_on_identical_vs_separated_clouds():
    rng = np.random.default_rng(6)
    real = rng.standard_normal((800, 4))
    same = rng.standard_normal((800, 4))
    far = rng.standard_normal((800, 4)) + 20
    pr_same, pr_far = precision_recall(real, same), precision_recall(real, far)
    assert pr_same["precision"] > 0.8 and pr_same["recall"] > 0.8
    assert pr_far["precision"] == 0 and pr_far["recall"] == 0
    dc_same, dc_far = density_coverage(real, same), density_coverage(real, far)
    assert 0.8 < dc_same["density"] < 1.2 and dc_same["coverage"] > 0.9
    assert dc_far == {"density": 0.0, "coverage": 0.0, "k": 5}
    # a generator that covers only half the real cloud: precision stays high, recall/coverage drop
    half = same[same[:, 0] > 0]
    pr_half, dc_half = precision_recall(real, half), density_coverage(real, half)
    assert pr_half["precision"] > 0.8 and pr_half["recall"] < 0.7 and dc_half["coverage"] < 0.7


def test_inception_score_of_confident_diverse_vs_uniform_predictions():
    confident = np.eye(10)[np.arange(1000) % 10] * 0.999 + 0.0001
    assert inception_score(confident)[0] == pytest.approx(10, rel=0.02)
    assert inception_score(np.full((1000, 10), 0.1))[0] == pytest.approx(1.0)


def test_report_records_how_it_was_measured_and_leads_with_kid_for_small_sets():
    space = feature_space("pixels")
    rng = np.random.default_rng(7)
    real = rng.integers(0, 255, (64, 16, 16, 3), dtype=np.uint8)
    fake = rng.integers(0, 128, (48, 16, 16, 3), dtype=np.uint8)
    r = fidelity_report(real, fake, space)
    assert r["feature_space"] == "pixels" and r["resize"].startswith("bilinear") and r["feature_dim"] == 768
    assert (r["n_real"], r["n_fake"]) == (64, 48)
    assert r["fid_reliable"] is False and r["lead"] == "kid" and "unreliable" in r["note"]
    text = describe_report(r)
    assert text.index("KID") < text.index("FID") and "unreliable" in text
    n = FID_RELIABLE_N
    big = fidelity_from_features(rng.standard_normal((n, 4)), rng.standard_normal((n, 4)), space,
                                 kid_subsets=2)
    assert big["lead"] == "fid" and big["note"] == ""


def test_features_are_cached_per_image_set(run_store):
    space = feature_space("pixels")
    images = np.random.default_rng(8).integers(0, 255, (10, 16, 16, 3), dtype=np.uint8)
    first = extract_features(images, space)
    cached = list((run_store / "cache" / "features").glob("pixels16-*.npy"))
    assert len(cached) == 1
    np.testing.assert_array_equal(np.load(cached[0]), first)
    other = images.copy()
    other[0, 0, 0, 0] ^= 1
    extract_features(other, space)
    assert len(list((run_store / "cache" / "features").glob("*.npy"))) == 2


def test_offline_inception_gives_a_clear_error_not_a_crash(tmp_path, monkeypatch):
    from simstudio.nets.registry import PretrainedWeightsUnavailable

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setenv("SIMSTUDIO_OFFLINE", "1")
    with pytest.raises(PretrainedWeightsUnavailable, match=r"Inception-v3 weights are not available offline.*"
                                                           r"--features <classifier run id>"):
        feature_space("inception")
    assert issubclass(PretrainedWeightsUnavailable, FileNotFoundError)  # the CLI prints it as one line


def test_unknown_feature_space_names_the_choices():
    with pytest.raises(FileNotFoundError, match="neither 'inception', 'pixels'"):
        feature_space("no-such-run")


def test_domain_feature_space_from_a_trained_classifier(run_store):
    from simstudio.jobs import JobContext, execute_job
    from simstudio.runs import new_run
    from simstudio.train.classifier import ClassifierConfig, TrainingData, fit_classifier

    rng = np.random.default_rng(9)

    def blobs(n, colour):
        x = rng.integers(60, 140, (n, 16, 16, 3)).astype(np.uint8)
        x[:, 4:12, 4:12] = colour
        return x

    x = np.concatenate([blobs(16, (220, 40, 40)), blobs(16, (40, 40, 220))])
    y = np.repeat([0, 1], 16)
    data = TrainingData.from_arrays(["a", "b"], test=(x, y), train=(x, y))
    cfg = ClassifierConfig(image_size=16, epochs=1, batch_size=16, optimizer="adam", lr=1e-3,
                           schedule="constant", augment="none", device="cpu", val_fraction=0.0)
    run = new_run("train", cfg)
    execute_job(run, lambda c, ctx: fit_classifier(c, data, ctx), cfg, JobContext(run))
    assert run.status == "finished", run.error
    space = feature_space(run.id)
    assert space.name == f"classifier:{run.id}" and "penultimate" in space.description
    feats = extract_features(x, space)
    assert feats.shape[0] == 32 and feats.ndim == 2
    r = fidelity_report(x[:16], x[16:], space)
    assert r["feature_space"] == f"classifier:{run.id}" and r["kid"] > 0
    assert torch.isfinite(torch.tensor(r["fid"]))


def test_inception_space_loads_cached_weights_and_reports_inception_score(tmp_path, monkeypatch):
    """With a weights file in torch hub's cache (here a random stand-in with torchvision's layout, since
    this machine has no network), the Inception space gives 2048-d pool features and class probabilities."""
    from torchvision.models import inception_v3

    from simstudio.eval.fidelity import inception_weights_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("SIMSTUDIO_OFFLINE", "1")  # never download in a test
    path = inception_weights_file()
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=True).state_dict(), path)
    space = feature_space("inception", device="cpu")
    assert space.name == "inception" and "299" in space.resize
    images = np.random.default_rng(10).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    feats = extract_features(images, space, cache=False)
    assert feats.shape == (3, 2048)
    probs = space.class_probs(images)
    assert probs.shape == (3, 1000) and np.allclose(probs.sum(1), 1, atol=1e-5)
