"""Classifiers shipped with the app in `models/`: `<name>.pt` (a classifier checkpoint, loaded with
`torch.load(weights_only=True)`) beside `<name>.json`, its model card. A shipped model is referred to by
its name wherever a classifier run id or checkpoint is accepted, so it works on a fresh clone with no run
store and no data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    checkpoint: Path
    card: dict

    @property
    def summary(self) -> str:
        """One line for a dropdown: the name, what it was trained on, its measured real-test AUC."""
        c = self.card
        ev = c.get("evaluation") or {}
        auc = (f", real-test ROC-AUC {ev['roc_auc']:.3f} [{ev['ci'][0]:.3f}, {ev['ci'][1]:.3f}]"
               if ev.get("roc_auc") is not None and ev.get("ci") else "")
        trained = c.get("training", {}).get("summary", "")
        return f"{self.name} (shipped{': ' + trained if trained else ''}{auc})"


def models_dir() -> Path:
    """Where shipped models live: `$SIMSTUDIO_MODELS` when set, else the repository's `models/`."""
    return Path(os.environ.get("SIMSTUDIO_MODELS") or MODELS_DIR).expanduser()


def shipped_models(root: str | os.PathLike | None = None) -> list[ShippedModel]:
    """Every `<name>.pt` with a `<name>.json` card in the models folder, sorted by name."""
    base = Path(root) if root is not None else models_dir()
    if not base.is_dir():
        return []
    out = []
    for pt in sorted(base.glob("*.pt")):
        card_file = pt.with_suffix(".json")
        if not card_file.is_file():
            continue  # a checkpoint without a card is not shipped: nobody could say what it is
        try:
            card = json.loads(card_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue
        out.append(ShippedModel(pt.stem, pt, card if isinstance(card, dict) else {}))
    return out


def shipped_model(name: str, root: str | os.PathLike | None = None) -> ShippedModel | None:
    """The shipped model called `name`, or None."""
    name = (name or "").strip()
    return next((m for m in shipped_models(root) if m.name == name), None)


def default_model(root: str | os.PathLike | None = None) -> ShippedModel | None:
    """The model the app uses when none is chosen: the card marked `"default": true`, else the first."""
    models = shipped_models(root)
    return next((m for m in models if m.card.get("default")), models[0] if models else None)


def shipped_names(root: str | os.PathLike | None = None) -> list[str]:
    return [m.name for m in shipped_models(root)]
