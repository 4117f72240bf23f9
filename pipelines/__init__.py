"""Inference: one self-contained module per task, a shared model layer, no Gradio.

Importing this package is cheap (no torch); task modules import torch when they are loaded.
"""
