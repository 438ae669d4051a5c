"""Finding checkpoints and the run folder (run_config.json) they belong to.

A SavedModel export counts as one: its variables are a checkpoint of the exported module, whose `model`
is the network (the weights it was exported with, the run's average when it kept one), and its
assets.extra/ holds the run's run_config.json. So a shipped model can be evaluated in Python, exported
again or fine-tuned (`--resume=models/NAME`) like a run folder."""

from __future__ import annotations

import os

import tensorflow as tf


SAVED_MODEL_VARIABLES = os.path.join("variables", "variables")
SAVED_MODEL_EXTRA = "assets.extra"


def resolve_checkpoint(path: str) -> tuple[str, str]:
    """A run folder, its best/ folder, a SavedModel export or a checkpoint prefix -> (checkpoint prefix,
    folder holding run_config.json)."""
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        ckpt = os.path.join(path, SAVED_MODEL_VARIABLES)
        if not os.path.exists(ckpt + ".index"):
            raise FileNotFoundError(f"the SavedModel {path} has no {SAVED_MODEL_VARIABLES}.index")
    elif os.path.isdir(path):
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
    for candidate in (folder, os.path.dirname(folder), os.path.join(os.path.dirname(folder), SAVED_MODEL_EXTRA)):
        if os.path.exists(os.path.join(candidate, "run_config.json")):
            return ckpt, candidate
    raise FileNotFoundError(f"no run_config.json beside {ckpt}, in its parent folder or its {SAVED_MODEL_EXTRA}/ "
                            "(a SavedModel exported before tfdet recorded its run)")
