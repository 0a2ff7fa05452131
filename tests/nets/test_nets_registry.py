"""Every registered model builds, runs forward at the sizes it takes, exposes .features(), and refuses
sizes it cannot take; asking for ImageNet weights offline fails fast with a clear message."""

import os

import pytest
import torch

from simstudio.nets import (
    MODEL_INPUT_SIZES,
    MODEL_NAMES,
    PretrainedWeightsUnavailable,
    build_model,
    check_input_size,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    "name,size,dim",
    [
        ("smallcnn", 32, 256),
        ("smallcnn", 64, 256),
        ("smallcnn", 128, 256),
        ("hescnet", 64, 4096),
        ("resnet18", 32, 512),
        ("resnet18", 64, 512),
    ],
)
def test_forward_and_features_at_supported_sizes(name, size, dim):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        logits, feats = model(x), model.features(x)
    assert logits.shape == (2, 3)
    assert feats.shape == (2, dim)
    assert torch.isfinite(logits).all()


def test_resnet50_one_small_forward():
    model = build_model("resnet50", num_classes=2).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 2)
        assert model.features(torch.randn(1, 3, 32, 32)).shape == (1, 2048)


def test_inception_v3_at_299_returns_aux_logits_while_training():
    model = build_model("inception_v3", num_classes=2).train()
    out = model(torch.randn(2, 3, 299, 299))
    # Training: (logits, aux logits), both over our classes; the trainer adds 0.4 x the aux loss.
    assert isinstance(out, tuple) and out[0].shape == (2, 2) and out[1].shape == (2, 2)
    model.eval()
    with torch.no_grad():
        assert model.features(torch.randn(1, 3, 299, 299)).shape == (1, 2048)


def test_sizes_a_model_cannot_take_are_refused_clearly():
    with pytest.raises(ValueError, match=r"hescnet takes exactly 64x64 px images, not 32x32"):
        check_input_size("hescnet", 32)
    with pytest.raises(ValueError, match=r"inception_v3 takes at least 299x299"):
        check_input_size("inception_v3", 128)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vgg99", 2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_model("smallcnn", 1)
    for name in MODEL_NAMES:
        check_input_size(name, MODEL_INPUT_SIZES[name])  # every default size is accepted


def test_pretrained_offline_fails_fast_naming_the_missing_file(tmp_path, monkeypatch):
    # An empty torch cache and an unreachable proxy: what an offline machine looks like.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(PretrainedWeightsUnavailable) as err:
        build_model("resnet18", 2, pretrained=True)
    msg = str(err.value)
    assert "resnet18-f37072fd.pth" in msg and os.path.join("torch", "hub", "checkpoints") in msg
    assert "random initialisation" in msg and "pretrained=False" in msg
    with pytest.raises(ValueError, match="no pretrained weights"):
        build_model("smallcnn", 2, pretrained=True)
