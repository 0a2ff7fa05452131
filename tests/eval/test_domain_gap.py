"""Domain-gap measures: the two-sample test, embeddings, nearest neighbours, image descriptors."""

import cv2
import numpy as np
import pytest

from simstudio.eval.domain_gap import c2st, compute_features, embed_2d, image_descriptor, nearest_real


def discs(n, lesion, skin=(222, 172, 150), size=48, seed=0):
    """n images of a dark disc of random radius and position on skin, with noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = np.empty((size, size, 3), np.float32)
        img[:] = skin
        c = tuple(int(v) for v in rng.integers(size // 3, 2 * size // 3, 2))
        cv2.circle(img, c, int(rng.integers(size // 8, size // 4)), lesion, -1)
        img = cv2.GaussianBlur(img, (0, 0), 1.0) + rng.normal(0, 4, img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


@pytest.mark.parametrize("classifier", ["logistic", "boosting"])
def test_c2st_is_chance_on_two_halves_of_one_set_and_near_one_on_different_sets(classifier):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 8))
    same = c2st(X[:200], X[200:], classifier=classifier, seed=1)
    assert abs(same.auc - 0.5) < 0.1
    assert same.ci[0] < 0.5 < same.ci[1]
    shifted = c2st(X[:200], X[200:] + 2.0, classifier=classifier, seed=1)
    assert shifted.auc > 0.97
    assert "clearly different" in shifted.summary()
    assert same.as_dict()["n_a"] == 200 and same.scores.shape == (400,)


def test_c2st_on_images_tells_a_colour_change_apart_but_not_a_resample():
    a = discs(60, (120, 72, 52), seed=0)
    b = discs(60, (120, 72, 52), seed=1)
    c = discs(60, (80, 80, 120), seed=2)   # a blue-grey lesion: clearly different
    fa, fb, fc = image_descriptor(a), image_descriptor(b), image_descriptor(c)
    assert abs(c2st(fa, fb).auc - 0.5) < 0.15
    assert c2st(fa, fc).auc > 0.95


def test_c2st_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 4"):
        c2st(np.zeros((2, 3)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="widths differ"):
        c2st(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="NaN"):
        c2st(np.full((10, 3), np.nan), np.zeros((10, 3)))
    with pytest.raises(ValueError, match="unknown C2ST classifier"):
        c2st(np.zeros((10, 3)), np.ones((10, 3)), classifier="svm")


def test_embeddings_place_two_clouds_apart():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(40, 20)), rng.normal(size=(40, 20)) + 3]
    for method in ("pca", "tsne"):
        Y = embed_2d(X, method, seed=0)
        assert Y.shape == (80, 2)
        ca, cb = Y[:40].mean(0), Y[40:].mean(0)
        spread = Y[:40].std(0).mean() + Y[40:].std(0).mean()
        assert np.linalg.norm(ca - cb) > spread
    with pytest.raises(ValueError, match="unknown embedding"):
        embed_2d(X, "umap")


def test_nearest_real_finds_the_source_of_each_perturbed_copy():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(50, 6))
    order = rng.permutation(50)[:20]
    idx, dist = nearest_real(real, real[order] + rng.normal(0, 0.01, (20, 6)), k=3)
    assert idx.shape == (20, 3) and (idx[:, 0] == order).all()
    assert (np.diff(dist, axis=1) >= 0).all()


def test_feature_spaces_by_name():
    imgs = discs(5, (120, 72, 52))
    X, names = compute_features(imgs, "stats")
    assert X.shape == (5, len(names)) and np.isfinite(X).all()
    assert compute_features(imgs, "pixels")[0].shape[0] == 5
    with pytest.raises(FileNotFoundError, match="neither stats, pixels"):
        compute_features(imgs, "no-such-run")


def write_folder(root, sets):
    """An ImageFolder (root/<class>/*.png) from {class: images}."""
    for c, imgs in sets.items():
        (root / c).mkdir(parents=True)
        for i, img in enumerate(imgs):
            cv2.imwrite(str(root / c / f"{i:03d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root


def test_gap_job_on_two_folders_writes_every_view(tmp_path):
    from simstudio.eval.domain_gap import GapConfig, run_gap
    from simstudio.jobs import run_in_foreground

    real = write_folder(tmp_path / "real", {"benign": discs(12, (120, 72, 52), seed=0),
                                            "malignant": discs(12, (60, 40, 40), seed=1)})
    syn = write_folder(tmp_path / "syn", {"benign": discs(12, (80, 80, 120), seed=2),
                                          "malignant": discs(12, (80, 80, 120), seed=3),
                                          "extra": discs(4, (80, 80, 120), seed=4)})
    config = GapConfig(real=str(real), synthetic=str(syn), size=48, per_class=10, neighbours=4)
    run, result = run_in_foreground("gap", run_gap, config, echo=False)
    assert run.status == "finished", run.error
    assert result["classes"] == ["benign", "malignant"]        # only the shared classes
    assert result["n_real"] == 20 and result["n_synthetic"] == 20
    assert result["c2st"]["auc"] > 0.9                          # blue lesions are obviously not real
    assert set(result["fidelity"]) == {"benign", "malignant", "all"}
    assert result["fidelity"]["all"]["kid"] > 0
    points = run.read_json("gap_points.json")
    assert len(points["x"]) == 40 and set(points["set"]) == {0, 1}
    stats = run.read_json("gap_stats.json")
    assert len(stats["stats"]["real"]["area_frac"]) == 20
    pairs = run.read_json("gap_neighbours.json")
    assert len(pairs) == 4 and all(p["class"] in ("benign", "malignant") for p in pairs)
    assert (run.path / "samples" / "nn_00.png").is_file()
    texture = result["texture"]                                 # detail by scale, per class
    assert set(texture["per_class"]) == {"benign", "malignant"}
    assert texture["per_class"]["benign"]["n_real"] == 10 and len(texture["per_class"]["benign"]["auc"]) == 8
    # blue lesions on the same skin: the lesion statistics tell the sets apart
    assert result["c2st_groups"]["lesion"]["all"]["auc"] > 0.8


def test_gap_job_names_a_missing_class_overlap(tmp_path):
    from simstudio.eval.domain_gap import GapConfig, load_gap_sets

    real = write_folder(tmp_path / "real", {"a": discs(3, (120, 72, 52))})
    syn = write_folder(tmp_path / "syn", {"b": discs(3, (120, 72, 52))})
    with pytest.raises(ValueError, match="share no class"):
        load_gap_sets(GapConfig(real=str(real), synthetic=str(syn), size=48))


def test_gap_cli_prints_the_headline_and_exits_2_on_a_missing_set(tmp_path, capsys):
    from simstudio.cli import main

    real = write_folder(tmp_path / "real", {"benign": discs(8, (120, 72, 52), seed=0)})
    syn = write_folder(tmp_path / "syn", {"benign": discs(8, (80, 80, 120), seed=2)})
    assert main(["gap", str(real), str(syn), "--size", "48", "--per-class", "8", "--neighbours", "2"]) == 0
    out = capsys.readouterr().out
    assert "C2ST AUC" in out and "benign" in out and "run: gap-" in out
    assert "the 2 synthetic images it was surest of" in out and "telling_real_*.png" in out
    assert "texture by scale" in out and "lesion σ 0–0.7 px" in out
    assert "lesion statistics only (read per class)" in out and "acquisition statistics only" in out
    assert main(["gap", str(tmp_path / "missing"), str(syn), "--size", "48"]) == 2
    assert "no dataset run or image folder" in capsys.readouterr().err


def test_the_telling_images_are_the_synthetic_ones_unlike_any_real_one(tmp_path):
    """A synthetic set that mostly matches the real one, with a few blue-grey lesions among brown ones: the
    two-sample test's held-out scores put exactly those first, and the job saves them to look at."""
    from simstudio.eval.domain_gap import GapConfig, run_gap
    from simstudio.jobs import run_in_foreground

    brown = (120, 72, 52)
    real = write_folder(tmp_path / "real", {"benign": discs(40, brown, seed=0)})
    odd = discs(4, (80, 80, 120), seed=2)
    syn = write_folder(tmp_path / "syn", {"benign": np.concatenate([discs(36, brown, seed=1), odd])})
    config = GapConfig(real=str(real), synthetic=str(syn), size=48, per_class=40, neighbours=4)
    run, result = run_in_foreground("gap", run_gap, config, echo=False)
    assert run.status == "finished", run.error
    telling = run.read_json("gap_telling.json")
    assert telling == result["telling"] and len(telling["synthetic"]) == len(telling["real"]) == 4
    # the job may read a folder in its own order: look at the saved pictures, not at positions
    def shown(name):
        return [cv2.imread(str(run.path / "samples" / f"telling_{name}_{i:02d}.png"))[..., ::-1] for i in range(4)]

    assert all(_has_blue_disc(img) for img in shown("synthetic")), telling["synthetic"]
    assert not any(_has_blue_disc(img) for img in shown("real"))
    assert min(r["p_synthetic"] for r in telling["synthetic"]) > max(r["p_synthetic"] for r in telling["real"])
    # and which measured statistics give the blue lesions away (enough images in the class to search)
    stats = result["telling_stats"]["classes"]["benign"]
    assert stats["n_real"] == stats["n_synthetic"] == 40 and len(stats["single"]) == 5


def _has_blue_disc(img):
    """A blue-grey disc: some pixels whose blue channel beats red (brown lesions and skin never do)."""
    return int((img[..., 2].astype(int) > img[..., 0].astype(int) + 10).sum()) > 20
