"""Anchors: one AnchorConfig shared by targets, model, post-processing, optimizer and export."""

from tfdet.anchors.config import AnchorConfig  # noqa: F401
