"""Procedural dermoscopic lesion simulator (numpy + OpenCV only: no torch, no gradio)."""
