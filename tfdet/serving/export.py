"""Load a trained model from a run folder / checkpoint, and export versioned SavedModels."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil

import tensorflow as tf

from tfdet import keys
from tfdet.postprocess import PostprocessConfig
from tfdet.serving.module import DetectorModule
from tfdet.training.checkpoints import resolve_checkpoint  # noqa: F401 (re-exported)
from tfdet.training.config import RunConfig


def load_trained_model(path: str):
    """-> (keras model with restored weights, RunConfig, checkpoint prefix). Always float32."""
    import keras

    from tfdet.modeling.retinanet import build_model

    ckpt, run_dir = resolve_checkpoint(path)
    config = RunConfig.load(run_dir)
    keras.mixed_precision.set_global_policy("float32")
    model_cfg = dataclasses.replace(config.model, backbone_weights="")
    model = build_model(model_cfg, config.anchors)
    status = tf.train.Checkpoint(model=model).restore(ckpt)
    status.expect_partial()
    status.assert_existing_objects_matched()
    return model, config, ckpt


def make_module(model, config: RunConfig, post: PostprocessConfig, size: int | None = None) -> DetectorModule:
    return DetectorModule(model, config.anchors, config.coder, post, size or config.evaluation_size)


def next_version(base: str) -> int:
    versions = [int(n) for n in os.listdir(base) if re.fullmatch(r"\d+", n)] if os.path.isdir(base) else []
    return max(versions, default=0) + 1


def staging_folder(export_dir: str, version: int | None) -> tuple[str, str]:
    """-> (export_dir/<version> (the next free one by default), an empty temporary folder beside it
    to write into and rename when complete). An existing version is an error."""
    version = version or next_version(export_dir)
    final = os.path.join(export_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists; choose another --version")
    tmp = os.path.join(export_dir, f".tmp-{version}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(export_dir, exist_ok=True)
    return final, tmp


def export_saved_model(model_path: str, export_dir: str, version: int | None = None, post: PostprocessConfig | None = None,
                       size: int | None = None, extra: dict | None = None) -> str:
    """Write export_dir/<version>/ atomically (a temporary folder renamed when complete)."""
    model, config, ckpt = load_trained_model(model_path)
    post = post or PostprocessConfig(classification_loss=config.model.classification_loss)
    post = dataclasses.replace(post, classification_loss=config.model.classification_loss)
    module = make_module(model, config, post, size)
    final, tmp = staging_folder(export_dir, version)
    signatures = {
        keys.SIGNATURE_ENCODED: module.serve_encoded,
        keys.SIGNATURE_IMAGE_TENSOR: module.serve_image_tensor,
        keys.SIGNATURE_TF_EXAMPLE: module.serve_tf_example,
    }
    tf.saved_model.save(module, tmp, signatures=signatures)
    extra_dir = os.path.join(tmp, "assets.extra")
    os.makedirs(extra_dir, exist_ok=True)
    with open(os.path.join(extra_dir, "anchor_config.json"), "w") as f:
        f.write(config.anchors.to_json())
    with open(os.path.join(extra_dir, "run_config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=1, sort_keys=True)
    with open(os.path.join(extra_dir, "export.json"), "w") as f:
        json.dump({"checkpoint": os.path.abspath(ckpt), "input_size": module.size,
                   "postprocess": dataclasses.asdict(post), **(extra or {})}, f, indent=1, sort_keys=True)
    run_dir = os.path.dirname(os.path.abspath(ckpt))
    for name in ("flags.cfg",):
        src = os.path.join(run_dir, name)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(extra_dir, name))
    os.replace(tmp, final)
    return final


class SavedModelDetector:
    """A SavedModel export used like a DetectorModule (evaluation, prediction)."""

    def __init__(self, path: str):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"no saved_model.pb in {path}")
        self.path = path
        self.loaded = tf.saved_model.load(path)
        self.signature = self.loaded.signatures[keys.SIGNATURE_ENCODED]
        self.size = None
        meta = os.path.join(path, "assets.extra", "export.json")
        if os.path.exists(meta):
            with open(meta) as f:
                self.size = json.load(f).get("input_size")

    def detect_encoded(self, encoded_list) -> dict:
        out = self.signature(images=tf.constant(list(encoded_list), dtype=tf.string))
        return {k: v.numpy() for k, v in out.items()}


def load_detector(path: str, post: PostprocessConfig | None = None, size: int | None = None):
    """A SavedModel folder, a run folder or a checkpoint -> object with detect_encoded()."""
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "saved_model.pb")):
        return SavedModelDetector(path)
    model, config, _ = load_trained_model(path)
    post = dataclasses.replace(post or PostprocessConfig(), classification_loss=config.model.classification_loss)
    return make_module(model, config, post, size)
