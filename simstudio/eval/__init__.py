"""Evaluation: classification metrics and Grad-CAM explanations (no Gradio here)."""
