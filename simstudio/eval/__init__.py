"""Evaluation: classification metrics, Grad-CAM explanations, and the fidelity / domain-gap measures of
synthetic images (no Gradio here)."""
