"""Backbones, FPN, heads and the assembled quad RetinaNet."""
