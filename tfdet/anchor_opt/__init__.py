"""Anchor optimisation: K-means (1 - IoU) or differential evolution, with coverage reports."""
