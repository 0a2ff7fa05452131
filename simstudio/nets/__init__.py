"""Classifier networks by name: `build_model("smallcnn", num_classes=2)`; every model has `.features(x)`."""

from simstudio.nets.registry import (
    MODEL_INPUT_SIZES,
    MODEL_NAMES,
    PretrainedWeightsUnavailable,
    build_model,
    check_input_size,
    normalisation_for,
)

__all__ = [
    "MODEL_INPUT_SIZES",
    "MODEL_NAMES",
    "PretrainedWeightsUnavailable",
    "build_model",
    "check_input_size",
    "normalisation_for",
]
