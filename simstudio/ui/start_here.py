"""The first thing a visitor reads: what the app does right now with no data, and what needs a real set."""

from __future__ import annotations


def start_here_text() -> str:
    """The "Start here" box; the shipped model's name and measured AUC come from its card."""
    from simstudio.train.shipped import default_model

    m = default_model()
    if m is not None:
        ev = m.card.get("evaluation") or {}
        score = (f" (ROC-AUC {ev['roc_auc']:.2f}, 95 % CI {ev['ci'][0]:.2f}–{ev['ci'][1]:.2f}, on {ev['n']} "
                 "held-out real images)" if ev.get("roc_auc") is not None else "")
        model = f"The shipped model, `{m.name}`, was trained **only on simulated lesions**{score}."
    else:
        model = "No model is shipped in `models/` yet: train one (Train) and choose it there."
    return (
        "### Start here\n"
        "Three things you can do right now, with no data of your own:\n\n"
        "1. **Tune and export lesions** (*Simulate*): move the ABCD sliders, see 16 lesions and the cues "
        "measured on them, export a labelled set of simulated images.\n"
        "2. **Ask the shipped model about an image** (*Predict*): upload a dermoscopic image and see what it "
        f"makes of it: P(malignant), the Grad-CAM overlay and the three nearest simulated lesions. {model} "
        "Research demo, not a medical device.\n"
        "3. **Run the blind test** (*Blind test*): bring your own real images, mix them with simulated ones, and "
        "see whether a reader can tell real from simulated.\n\n"
        "**Needs a real dataset** (import one in *Data*): training on real images (*Train*), experiments that "
        "measure whether synthetic images help (*Compare*), GANs (*GAN*), and the domain gap, counterfactual "
        "sweeps of your own classifiers and fitting the simulator (*Gap*; the sweep works with the shipped "
        "model without any data)."
    )
