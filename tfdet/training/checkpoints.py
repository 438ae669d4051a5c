"""Finding checkpoints and the run folder (run_config.json) they belong to."""

from __future__ import annotations

import os

import tensorflow as tf


def resolve_checkpoint(path: str) -> tuple[str, str]:
    """A run folder, its best/ folder or a checkpoint prefix -> (checkpoint prefix, run folder holding run_config.json)."""
    if os.path.isdir(path):
        ckpt = tf.train.latest_checkpoint(path)
        for single in (os.path.join(path, "ckpt"), os.path.join(path, "best", "ckpt")):  # best/ has no `checkpoint` index
            if ckpt is None and os.path.exists(single + ".index"):
                ckpt = single
        if ckpt is None:
            raise FileNotFoundError(f"no checkpoint in {path}")
    else:
        if not os.path.exists(path + ".index"):
            raise FileNotFoundError(f"no checkpoint {path} (expected {path}.index)")
        ckpt = path
    folder = os.path.dirname(os.path.abspath(ckpt))
    for candidate in (folder, os.path.dirname(folder)):
        if os.path.exists(os.path.join(candidate, "run_config.json")):
            return ckpt, candidate
    raise FileNotFoundError(f"no run_config.json beside {ckpt} or in its parent folder")
