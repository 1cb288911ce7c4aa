"""Scoring clips, fusing runs, and what a model costs."""
