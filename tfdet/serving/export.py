"""Load a trained model from a run folder / checkpoint, and export versioned SavedModels."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil

import tensorflow as tf

from tfdet import keys
from tfdet.evaluation import COCO_SCORE_FLOOR, is_coco_protocol
from tfdet.postprocess import PostprocessConfig
from tfdet.serving.module import DetectorModule
from tfdet.training.best import BEST_JSON
from tfdet.training.checkpoints import resolve_checkpoint
from tfdet.training.config import RunConfig
from tfdet.training.ema import read_weights


def load_trained_model(path: str, precision: str = "float32"):
    """-> (keras model with restored weights, RunConfig, checkpoint prefix). `precision` (auto or a
    policy, tfdet.training.precision) is the compute precision of the rebuilt model: exports stay
    float32, the one precision every serving machine runs at full speed."""
    import keras

    from tfdet.modeling.retinanet import build_model
    from tfdet.training.precision import choose_precision

    ckpt, run_dir = resolve_checkpoint(path)
    config = RunConfig.load(run_dir)
    keras.mixed_precision.set_global_policy(choose_precision(precision).policy)
    model_cfg = dataclasses.replace(config.model, backbone_weights="")
    model = build_model(model_cfg, config.anchors)
    read_weights(model, ckpt)  # the run's weight average when it kept one (tfdet.training.ema)
    return model, config, ckpt


def is_saved_model(path: str) -> bool:
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "saved_model.pb"))


def run_protocol(path: str) -> str | None:
    """The protocol the run behind a run folder, checkpoint or SavedModel export is scored with (its
    run_config.json; None for an export written before the protocol was recorded). Tools default to it:
    evaluate's --protocol, the NMS IoU of predict and export, export's score floor (a SavedModel keeps the
    post-processing it was exported with)."""
    if not is_saved_model(path):
        return RunConfig.load(resolve_checkpoint(path)[1]).eval_protocol
    recorded = os.path.join(path, "assets.extra", "run_config.json")
    if not os.path.exists(recorded):
        return None
    with open(recorded) as f:
        return json.load(f).get("eval_protocol")


def score_floor_warning(config: RunConfig, post: PostprocessConfig) -> str | None:
    """A warning when an export of a multi-class or COCO-protocol model drops detections above COCO_SCORE_FLOOR:
    such a model is scored over its whole precision-recall curve (mAP), which the floor cuts."""
    kinds = [kind for kind, applies in ((f"{config.model.num_classes}-class", config.model.num_classes > 1),
                                        (f"{config.eval_protocol}-protocol", is_coco_protocol(config.eval_protocol))) if applies]
    if not kinds or post.score_threshold <= COCO_SCORE_FLOOR + 1e-9:
        return None
    return (f"warning: this {' '.join(kinds)} model is scored over its whole precision-recall curve (mAP), but the export "
            f"keeps only detections scoring above {post.score_threshold:g}: evaluating it cuts that curve. Export with "
            f"--score_threshold={COCO_SCORE_FLOOR:g} to evaluate it (clients can still drop low scores).")


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
    # the run's resolved flags, and for a best/ checkpoint what chose it (from the run folder, wherever the checkpoint is)
    for src in (os.path.join(resolve_checkpoint(ckpt)[1], "flags.cfg"), os.path.join(os.path.dirname(ckpt), BEST_JSON)):
        if os.path.exists(src):
            shutil.copy(src, os.path.join(extra_dir, os.path.basename(src)))
    os.replace(tmp, final)
    return final


class SavedModelDetector:
    """A SavedModel export used like a DetectorModule (evaluation, prediction).

    Resizing and post-processing are baked into the graph (assets.extra/export.json says with which
    settings). A request is honoured where it can be from the baked outputs: a higher score
    threshold or fewer detections are applied here, on the exported detections. Anything else
    (another input size, NMS IoU or pre-NMS top-k, a lower score threshold, more detections) would
    silently run the baked settings instead, so it is refused with an error naming the flag.
    `requested` names the PostprocessConfig fields of `post` (and "size") the caller asks for;
    the others keep their baked values.
    """

    def __init__(self, path: str, post: PostprocessConfig | None = None, size: int | None = None,
                 requested: tuple | None = None):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"no saved_model.pb in {path}")
        self.path = path
        meta = os.path.join(path, "assets.extra", "export.json")
        if not os.path.exists(meta):
            raise FileNotFoundError(f"{meta} is missing: not a tfdet export (its input size and post-processing are unknown)")
        with open(meta) as f:
            meta = json.load(f)
        self.size = int(meta["input_size"])
        baked = meta.get("postprocess", {})
        self.baked = PostprocessConfig(**{k: v for k, v in baked.items() if k in PostprocessConfig.__dataclass_fields__})
        if requested is None:
            requested = tuple(PostprocessConfig.__dataclass_fields__) + ("size",) if post is not None or size else ()
        self.post = self._honour(post or self.baked, size, set(requested))
        self.loaded = tf.saved_model.load(path)
        self.signature = self.loaded.signatures[keys.SIGNATURE_ENCODED]

    @property
    def score_floor(self) -> float:
        """Detections scoring at or below this are not in the outputs."""
        return self.post.score_threshold

    def _honour(self, post: PostprocessConfig, size: int | None, requested: set) -> PostprocessConfig:
        baked, name = self.baked, self.path

        def refuse(flag, value, baked_value, how):
            raise ValueError(f"{name} was exported with {flag}={baked_value}; {flag}={value} cannot be honoured by this "
                             f"SavedModel ({how}): re-export with {flag}={value}, or evaluate the run folder")

        if "size" in requested and size and int(size) != self.size:
            refuse("--size", size, self.size, "the resize is inside the graph")
        if "nms_iou_threshold" in requested and abs(post.nms_iou_threshold - baked.nms_iou_threshold) > 1e-9:
            refuse("--nms_iou", post.nms_iou_threshold, baked.nms_iou_threshold, "NMS runs inside the graph")
        if "pre_nms_top_k" in requested and post.pre_nms_top_k != baked.pre_nms_top_k:
            refuse("--pre_nms_top_k", post.pre_nms_top_k, baked.pre_nms_top_k, "the candidates are chosen inside the graph")
        if "max_detections" in requested and post.max_detections > baked.max_detections:
            refuse("--max_detections", post.max_detections, baked.max_detections, "it returns at most that many")
        if "score_threshold" in requested and post.score_threshold < baked.score_threshold - 1e-9:
            refuse("--score_threshold", post.score_threshold, baked.score_threshold, "lower scores are not in its outputs")
        fields = {k: getattr(post if k in requested else baked, k) for k in ("score_threshold", "max_detections")}
        return dataclasses.replace(baked, **fields)

    def detect_encoded(self, encoded_list) -> dict:
        out = self.signature(images=tf.constant(list(encoded_list), dtype=tf.string))
        return restrict_detections({k: v.numpy() for k, v in out.items()}, self.post.score_threshold, self.post.max_detections)


def restrict_detections(out: dict, score_threshold: float, max_detections: int) -> dict:
    """Exported outputs (numpy, padded, sorted by score) -> those scoring above `score_threshold`,
    at most `max_detections` per image, padded with zeros to `max_detections`."""
    import numpy as np

    scores = out[keys.OUT_SCORES]
    count = np.minimum(out[keys.OUT_NUM], max_detections)
    keep = (np.arange(scores.shape[1])[None] < count[:, None]) & (scores > score_threshold)
    result = {keys.OUT_NUM: keep.sum(1).astype(np.int32)}
    for name in (keys.OUT_QUADS, keys.OUT_BOXES, keys.OUT_SCORES, keys.OUT_CLASSES):
        values = out[name]
        padded = np.zeros((values.shape[0], max_detections) + values.shape[2:], values.dtype)
        for i in range(values.shape[0]):
            kept = values[i][keep[i]]
            padded[i, :len(kept)] = kept
        result[name] = padded
    return result


def load_detector(path: str, post: PostprocessConfig | None = None, size: int | None = None, requested: tuple | None = None,
                  precision: str = "float32"):
    """A SavedModel folder, a run folder or a checkpoint -> object with detect_encoded().

    For a SavedModel, `requested` names the settings the caller asks for (fields of `post`, and
    "size"); the others keep their exported values (None: all of them when `post` or `size` is given).
    A checkpoint is run at `precision` (float32, the export's precision, unless asked: tools pass their
    --precision, auto by default: tfdet.training.precision); a SavedModel at its own (float32)."""
    if is_saved_model(path):
        return SavedModelDetector(path, post, size, requested)
    model, config, _ = load_trained_model(path, precision)
    post = dataclasses.replace(post or PostprocessConfig(), classification_loss=config.model.classification_loss)
    return make_module(model, config, post, size)
