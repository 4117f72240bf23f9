"""The web studio and its wiring: Gradio Blocks, sessions, jobs, gallery, settings, CLI.

Nothing here imports torch: inference lives in pipelines/, provenance in provenance/.
"""
NAME = "GenMedia Studio"
