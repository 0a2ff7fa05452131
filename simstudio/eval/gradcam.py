"""Grad-CAM (Selvaraju et al. 2017): which image regions drive a prediction, for any of our models.

SimDeepL-style use: compare the maps on real and on simulated lesions to see whether the classifier
looks at the lesion or at acquisition artefacts (rulers, vignettes, hair).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from simstudio.nets.model_input import cam_layer, to_model_input


def grad_cam(
    model: torch.nn.Module,
    images,
    target: int | list[int] | None = None,
    layer: torch.nn.Module | None = None,
    normalisation: dict | None = None,
) -> np.ndarray:
    """Heat maps (N, H, W) in [0, 1] for uint8 images (N, H, W, 3) or one (H, W, 3).

    `target`: the class to explain (one for all, or one per image); None = each image's predicted class.
    `layer`: the convolutional layer to read; default the model's last convolutional block.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    meta = getattr(model, "simstudio_meta", {})  # set by load_classifier: the training preprocessing
    x = to_model_input(images, normalisation or meta.get("normalisation"), device)
    layer = layer or cam_layer(model)
    store: dict[str, torch.Tensor] = {}

    def keep(_module, _inp, out):
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            x.requires_grad_(True)  # so the hook's tensor is part of a graph even when weights are frozen
            logits = model(x)
            if isinstance(logits, tuple):
                logits = logits[0]
            if target is None:
                idx = logits.argmax(dim=1)
            else:
                idx = torch.as_tensor(
                    [target] * len(x) if np.isscalar(target) else list(target), device=device
                )
            model.zero_grad(set_to_none=True)
            logits.gather(1, idx.view(-1, 1)).sum().backward()
    finally:
        handle.remove()
        model.train(was_training)
    act, grad = store["act"].detach(), store["grad"].detach()
    weights = grad.mean(dim=(2, 3), keepdim=True)  # global-average-pooled gradients per channel
    cam = F.relu((weights * act).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-12).view(-1, 1, 1)
    return (cam / peak).cpu().numpy().astype(np.float32)


def overlay_heatmap(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """uint8 (H, W, 3) image with the heat map (H, W) in [0, 1] blended over it in a jet colour map."""
    import cv2

    heat = cv2.applyColorMap(np.clip(cam * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    if heat.shape[:2] != image.shape[:2]:
        heat = cv2.resize(heat, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip((1 - alpha) * image.astype(np.float32) + alpha * heat, 0, 255).astype(np.uint8)
