"""Grad-CAM looks where the evidence is: on a toy task whose label is the colour of a small square at a
random place, the heat map is high on the square and low elsewhere."""

import numpy as np
import pytest
import torch

from simstudio.eval.gradcam import grad_cam, overlay_heatmap
from simstudio.train.checkpoints import load_classifier
from simstudio.train.classifier import ClassifierConfig, TrainingData, fit_classifier

SIZE, BOX = 32, 8


def squares(n_per_class, seed):
    """Images, labels and the mask of the informative square (red = class 0, blue = class 1)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(60, 140, size=(2 * n_per_class, SIZE, SIZE, 3)).astype(np.uint8)
    y = np.repeat([0, 1], n_per_class)
    masks = np.zeros((len(y), SIZE, SIZE), bool)
    for i, c in enumerate(y):
        r0, c0 = rng.integers(0, SIZE - BOX, size=2)
        x[i, r0 : r0 + BOX, c0 : c0 + BOX] = (220, 40, 40) if c == 0 else (40, 40, 220)
        masks[i, r0 : r0 + BOX, c0 : c0 + BOX] = True
    return x, y, masks


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net trains faster on one thread than on two contended ones
    x, y, _ = squares(48, seed=1)
    tx, ty, _ = squares(8, seed=2)
    cfg = ClassifierConfig(
        image_size=SIZE,
        epochs=4,
        batch_size=16,
        optimizer="adam",
        lr=3e-3,
        schedule="constant",
        augment="flip_rotate",
        val_fraction=0.0,
        device="cpu",
    )
    from simstudio.jobs import JobContext, execute_job
    from simstudio.runs import new_run

    run = new_run("train", cfg, root=tmp_path_factory.mktemp("runs"))
    data = TrainingData.from_arrays(["red", "blue"], test=(tx, ty), train=(x, y))
    result = execute_job(run, lambda c, ctx: fit_classifier(c, data, ctx), cfg, JobContext(run))
    assert result["test"]["accuracy"] >= 0.9, result["test"]
    yield load_classifier(run.path)[0]
    torch.set_num_threads(threads)


def test_heat_map_is_on_the_informative_square(trained):
    x, y, masks = squares(10, seed=3)
    cams = grad_cam(trained, x)
    assert cams.shape == (20, SIZE, SIZE) and cams.min() >= 0 and cams.max() <= 1
    inside = np.array([c[m].mean() for c, m in zip(cams, masks, strict=True)])
    outside = np.array([c[~m].mean() for c, m in zip(cams, masks, strict=True)])
    # The square covers 1/16 of the image: the map is hotter on it than elsewhere in (nearly) every image,
    # typically about twice as hot (the last conv map of a 32 px image is only 4x4).
    assert np.mean(inside > outside) >= 0.9, (inside, outside)
    assert np.median(inside / outside) >= 1.5, (inside, outside)
    # Explaining the other class still gives a valid map of the same shape (one per image).
    assert grad_cam(trained, x[:2], target=1 - y[:2]).shape == (2, SIZE, SIZE)


def test_overlay_is_an_rgb_image_of_the_input_size(trained):
    x, _, _ = squares(1, seed=4)
    cam = grad_cam(trained, x[0])[0]
    over = overlay_heatmap(x[0], cam)
    assert over.shape == x[0].shape and over.dtype == np.uint8
    assert not np.array_equal(over, x[0])
