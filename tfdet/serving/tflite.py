"""TFLite export beside the SavedModel, and the Python detector that runs it.

The .tflite file holds the network only, with built-in TFLite ops (checked after conversion:
no Flex, no custom ops): input `images` float32 [1, H, W, 3], RGB 0-255, the image resized
keeping its aspect ratio to fit in W x H and padded bottom/right with zeros; the input
normalisation is inside. Outputs: `scores` float32 [1, A, C] (sigmoid, or softmax without the
background column for OHEM models) and `box_regression` float32 [1, A, 4+8 or 8] (TextBoxes++
offsets), anchors in AnchorConfig order for an H x W input.

Decoding and quad NMS are a post-processing step (`postprocess`, numpy + shapely) that follows
the SavedModel's rule exactly (tfdet/postprocess.py): keep scores above the threshold, the
`pre_nms_top_k` best, decode the offsets against the anchors, greedy NMS on the convex hulls
of the quads by exact IoU, class-aware, at most `max_detections`; then divide by the resize
scale and clip to the image. A phone app ports these ~60 lines; `detector.json` beside the
model holds every number they need (input size, anchors, coder variances, thresholds).

Quantizations: float32; float16 (weights); dynamic_int8 (int8 weights, float activations);
int8 (weights and activations, calibrated on a representative set of record images; input and
output stay float32).
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import json
import os
import tempfile

import numpy as np
import shapely
import tensorflow as tf

from tfdet import keys
from tfdet.anchors.coder import BoxCoder
from tfdet.anchors.config import AnchorConfig
from tfdet.anchors.generator import generate_anchors_np
from tfdet.ops import quads as quad_ops
from tfdet.postprocess import PostprocessConfig, class_scores
from tfdet.serving.export import load_trained_model, staging_folder
from tfdet.serving.module import MAX_PIXELS, decode_bounded

QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "int8")
MODEL_FILE = "model.tflite"
SPEC_FILE = "detector.json"


class TFLiteInputError(ValueError):
    """An input the TFLite detector cannot take (wrong dtype, shape or bytes)."""


def parse_input_size(text: str) -> tuple[int, int] | None:
    """'1280x736' (width x height) -> (height 736, width 1280); '' -> None; '640' -> square."""
    text = str(text or "").strip().lower()
    if not text:
        return None
    try:
        parts = [int(v) for v in text.split("x")]
    except ValueError:
        raise ValueError(f"input size {text!r} is not WIDTHxHEIGHT (e.g. 1280x736) or one number") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise ValueError(f"input size {text!r} is not WIDTHxHEIGHT (e.g. 1280x736) or one number")
    return parts[1], parts[0]


def resize_to_fit(image, height: int, width: int):
    """Keep the aspect ratio so the image fits in height x width, pad bottom/right.
    -> (float32 [height, width, 3], scale [2] (x, y) original -> network). For a square input
    this is exactly tfdet.input.augment.resize_and_pad."""
    h = tf.cast(tf.shape(image)[0], tf.float32)
    w = tf.cast(tf.shape(image)[1], tf.float32)
    ratio = tf.minimum(height / h, width / w)
    new_h = tf.clip_by_value(tf.round(h * ratio), 1.0, float(height))
    new_w = tf.clip_by_value(tf.round(w * ratio), 1.0, float(width))
    resized = tf.image.resize(image, tf.cast(tf.stack([new_h, new_w]), tf.int32), method="bilinear")
    return tf.image.pad_to_bounding_box(resized, 0, 0, height, width), tf.stack([new_w / w, new_h / h])


def make_preprocess(height: int, width: int, max_pixels: int = MAX_PIXELS):
    """tf.function: encoded JPEG/PNG bytes -> (network image [1, H, W, 3] float32, scale (x, y), original (h, w)),
    decoded as the SavedModel decodes (huge JPEGs at reduced DCT scale, >100 MP refused)."""

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def preprocess(data):
        image, original = decode_bounded(data, max(height, width), max_pixels)
        padded, scale = resize_to_fit(image, height, width)
        decoded_hw = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = scale * tf.stack([decoded_hw[1] / original[1], decoded_hw[0] / original[0]])
        return padded[None], scale, original

    return preprocess


# -- conversion -----------------------------------------------------------------------------

class NetworkModule(tf.Module):
    """What is converted: images [1, H, W, 3] -> scores, box_regression."""

    def __init__(self, model, height: int, width: int, classification_loss: str):
        super().__init__(name="tfdet_tflite_network")
        self.model = model
        self.classification_loss = classification_loss
        # Keras 3 variables must be tracked explicitly to be saved (as serving/module.py does)
        self.model_variables = [getattr(v, "value", v) for v in model.variables]
        self.network = tf.function(self._network, input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32, name="images")])

    def _network(self, images):
        out = self.model(images, training=False)
        return {"scores": class_scores(out["cls_logits"], self.classification_loss),
                "box_regression": tf.cast(out["box_regression"], tf.float32)}


def record_files(records: str) -> list[str]:
    files = sorted(glob.glob(records))
    if not files:
        raise FileNotFoundError(f"--representative_records: no files match {records}")
    return files


def representative_images(records: str, count: int, height: int, width: int):
    """Generator of network inputs from record images (int8 calibration)."""
    files = record_files(records)
    preprocess = make_preprocess(height, width)
    parse = {keys.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string)}

    def generate():
        seen = 0
        for serialized in tf.data.TFRecordDataset(files).take(count):
            encoded = tf.io.parse_single_example(serialized, parse)[keys.IMAGE_ENCODED]
            image, _, _ = preprocess(encoded)
            seen += 1
            yield {"images": image}
        if not seen:
            raise ValueError(f"--representative_records: {records} holds no records")

    return generate


def op_names(model_content: bytes) -> list[str]:
    interpreter = tf.lite.Interpreter(model_content=model_content)
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})


def convert(model, height: int, width: int, classification_loss: str = "focal", quantization: str = "float32",
            representative=None) -> bytes:
    """Keras model -> .tflite bytes with built-in ops only (a Flex or custom op is an error)."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; choose from {', '.join(QUANTIZATIONS)}")
    if quantization == "int8" and representative is None:
        raise ValueError("int8 quantization needs a representative dataset: give --representative_records=GLOB")
    # Through a SavedModel: the converter then folds every variable into a constant (given the
    # Keras 3 model directly it keeps some as READ_VARIABLE ops the interpreter never initialises)
    # and the signature keeps the input and output names.
    module = NetworkModule(model, height, width, classification_loss)
    with tempfile.TemporaryDirectory(prefix="tfdet-tflite-") as tmp:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.network})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        content = _run_converter(converter, quantization, representative)
    bad = [name for name in op_names(content) if name.lower().startswith("flex") or name in ("CUSTOM", "VAR_HANDLE", "READ_VARIABLE")]
    if bad:
        raise ValueError(f"the converted model needs ops outside the TFLite built-ins: {bad}")
    return content


def _run_converter(converter, quantization: str, representative) -> bytes:
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        content = converter.convert()
    except Exception as exc:  # ConverterError and friends: say what failed, no traceback for users
        raise ValueError(f"TFLite conversion ({quantization}) failed: {str(exc).strip().splitlines()[0]}") from exc
    return content


def export_tflite(model_path: str, export_dir: str, version: int | None = None, post: PostprocessConfig | None = None,
                  input_size: tuple[int, int] | None = None, quantization: str = "float32",
                  representative_records: str | None = None, num_representative: int = 100) -> str:
    """Write export_dir/<version>/{model.tflite, detector.json} atomically. input_size = (height, width),
    default the run's evaluation size (square)."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; choose from {', '.join(QUANTIZATIONS)}")
    if quantization == "int8":  # checked before the (slow) model load
        if not representative_records:
            raise ValueError("--tflite_quantization=int8 needs --representative_records=GLOB (calibration images)")
        record_files(representative_records)
    elif representative_records:
        raise ValueError("--representative_records is used by --tflite_quantization=int8 only")
    model, config, ckpt = load_trained_model(model_path)
    height, width = input_size or (config.evaluation_size, config.evaluation_size)
    config.anchors.check_input_size(height, width)
    post = dataclasses.replace(post or PostprocessConfig(), classification_loss=config.model.classification_loss)
    representative = None
    if quantization == "int8":
        representative = representative_images(representative_records, num_representative, height, width)
    content = convert(model, height, width, config.model.classification_loss, quantization, representative)
    final, tmp = staging_folder(export_dir, version)
    os.makedirs(tmp)
    with open(os.path.join(tmp, MODEL_FILE), "wb") as f:
        f.write(content)
    spec = {"input_height": height, "input_width": width, "quantization": quantization, "ops": op_names(content),
            "anchors": config.anchors.to_dict(), "coder": dataclasses.asdict(config.coder), "postprocess": dataclasses.asdict(post),
            "input_normalization": config.model.input_normalization + " (inside the model: feed RGB 0-255)",
            "checkpoint": os.path.abspath(ckpt), "run_config": config.to_dict()}
    with open(os.path.join(tmp, SPEC_FILE), "w") as f:
        json.dump(spec, f, indent=1, sort_keys=True)
    os.replace(tmp, final)
    return final


# -- post-processing (numpy + shapely) ------------------------------------------------------

def decode_offsets(offsets: np.ndarray, anchors: np.ndarray, coder: BoxCoder):
    """numpy port of BoxCoder.decode: [N, L] offsets, [N, 4] yxyx anchors -> (quads [N, 4, 2], boxes_yxyx [N, 4])."""
    offsets = offsets.astype(np.float32)
    ymin, xmin, ymax, xmax = (anchors[:, i] for i in range(4))
    w = np.maximum(xmax - xmin, 1e-6)
    h = np.maximum(ymax - ymin, 1e-6)
    corners = np.stack([np.stack([xmin, ymin], -1), np.stack([xmax, ymin], -1),
                        np.stack([xmax, ymax], -1), np.stack([xmin, ymax], -1)], axis=-2)
    size = np.stack([w, h], -1)[:, None, :]
    quads = corners + offsets[:, -8:].reshape(-1, 4, 2) * np.float32(coder.quad_variance) * size
    if coder.loc_outputs == 8:
        mins, maxs = quads.min(1), quads.max(1)
        return quads, np.stack([mins[:, 1], mins[:, 0], maxs[:, 1], maxs[:, 0]], -1)
    v = np.asarray(coder.box_variances, np.float32)
    cx, cy = xmin + 0.5 * w, ymin + 0.5 * h
    bcx = offsets[:, 0] * v[0] * w + cx
    bcy = offsets[:, 1] * v[1] * h + cy
    clip = np.float32(4.135166556742356)  # log(1000 / 16), as BoxCoder.decode
    bw = np.exp(np.minimum(offsets[:, 2] * v[2], clip)) * w
    bh = np.exp(np.minimum(offsets[:, 3] * v[3], clip)) * h
    return quads, np.stack([bcy - 0.5 * bh, bcx - 0.5 * bw, bcy + 0.5 * bh, bcx + 0.5 * bw], -1)


def quad_nms_numpy(quads: np.ndarray, scores: np.ndarray, iou_threshold: float, max_output: int, classes=None) -> np.ndarray:
    """tfdet.postprocess.quad_nms in numpy + vectorised shapely: same rule (convex hulls, exact IoU,
    axis-aligned pre-filter, class-aware), same order. -> kept indices."""
    n = len(scores)
    if n == 0:
        return np.zeros([0], int)
    order = np.argsort(-scores, kind="stable")
    hulls = shapely.convex_hull(shapely.multipoints(quads[order].astype(np.float64)))
    areas = shapely.area(hulls)
    bounds = shapely.bounds(hulls)  # xmin, ymin, xmax, ymax
    cls = np.zeros(n, int) if classes is None else np.asarray(classes)[order]
    alive = np.ones(n, bool)
    kept = []
    while alive.any() and len(kept) < max_output:
        best = int(np.argmax(alive))
        kept.append(best)
        alive[best] = False
        b = bounds[best]
        idx = np.nonzero(alive & (np.minimum(bounds[:, 3], b[3]) > np.maximum(bounds[:, 1], b[1])) &
                         (np.minimum(bounds[:, 2], b[2]) > np.maximum(bounds[:, 0], b[0])) & (cls == cls[best]))[0]
        if len(idx):
            inter = shapely.area(shapely.intersection(hulls[idx], hulls[best]))
            iou = inter / np.maximum(areas[idx] + areas[best] - inter, 1e-9)
            alive[idx[iou > iou_threshold]] = False
    return order[np.asarray(kept, int)]


@functools.lru_cache(maxsize=1)
def _compiled_order_quads():
    """`ops.quads.order_quads` traced once for [N, 4, 2] float32: the same op, ~1 ms instead of ~35 ms eager."""
    return tf.function(quad_ops.order_quads, input_signature=[tf.TensorSpec([None, 4, 2], tf.float32)])


def _order(quads: np.ndarray) -> np.ndarray:
    """[N, 4, 2] -> canonical vertex order (the SavedModel's own op)."""
    return _compiled_order_quads()(np.asarray(quads, np.float32).reshape(-1, 4, 2)).numpy()


def postprocess(scores: np.ndarray, box_regression: np.ndarray, anchors: np.ndarray, coder: BoxCoder, post: PostprocessConfig,
                scale_xy=(1.0, 1.0), original_hw=None) -> dict:
    """One image's network outputs ([A, C], [A, L]) -> detections in pixels of the original image,
    padded to max_detections, with the SavedModel's output names (no batch dimension)."""
    m = post.max_detections
    flat = scores.reshape(-1)
    num_classes = scores.shape[-1]
    candidates = np.nonzero(flat > post.score_threshold)[0]  # threshold, then the top k (same set as top k, then threshold)
    candidates = candidates[np.argsort(-flat[candidates], kind="stable")][:post.pre_nms_top_k]
    top_scores = flat[candidates]
    anchor_idx, classes = candidates // num_classes, candidates % num_classes + 1
    quads, boxes = decode_offsets(box_regression[anchor_idx], anchors[anchor_idx], coder)
    if len(quads):  # ordered as decoded, as tfdet.postprocess does before NMS
        quads = _order(quads).reshape(quads.shape)
    kept = quad_nms_numpy(quads, top_scores, post.nms_iou_threshold, m, classes)
    sx, sy = (float(v) for v in scale_xy)
    quads = quads[kept] / np.array([sx, sy], np.float32)
    boxes = boxes[kept] / np.array([sy, sx, sy, sx], np.float32)
    if original_hw is not None:
        h, w = (float(v) for v in original_hw)
        quads = np.clip(quads, 0.0, np.array([w, h], np.float32))
        boxes = np.clip(boxes, 0.0, np.array([h, w, h, w], np.float32))
    # the one quad order, as the SavedModel gives it (clipping can flip or cross a quad): its own TF op, so a
    # near-degenerate quad gets the same vertex order as in the SavedModel (an app ports geometry.order_quad)
    quads = _order(quads) if len(quads) else quads
    n = len(kept)
    out = {keys.OUT_QUADS: np.zeros([m, 8], np.float32), keys.OUT_BOXES: np.zeros([m, 4], np.float32),
           keys.OUT_SCORES: np.zeros([m], np.float32), keys.OUT_CLASSES: np.zeros([m], np.int32), keys.OUT_NUM: np.int32(n)}
    out[keys.OUT_QUADS][:n] = quads.reshape(n, 8)
    out[keys.OUT_BOXES][:n] = boxes
    out[keys.OUT_SCORES][:n] = top_scores[kept]
    out[keys.OUT_CLASSES][:n] = classes[kept]
    return out


# -- the detector -------------------------------------------------------------------------

class TFLiteDetector:
    """An export folder (model.tflite + detector.json) used like the SavedModel detector:
    detect_encoded(list of JPEG/PNG bytes) -> batched outputs with the serving names."""

    def __init__(self, path: str, num_threads: int = 2):
        model_file = os.path.join(path, MODEL_FILE) if os.path.isdir(path) else path
        spec_file = os.path.join(os.path.dirname(model_file), SPEC_FILE)
        for name in (model_file, spec_file):
            if not os.path.exists(name):
                raise FileNotFoundError(f"no {os.path.basename(name)} in {os.path.dirname(model_file) or '.'}")
        with open(spec_file) as f:
            self.spec = json.load(f)
        self.height, self.width = int(self.spec["input_height"]), int(self.spec["input_width"])
        self.coder = BoxCoder(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.spec["coder"].items()})
        self.post = PostprocessConfig(**self.spec["postprocess"])
        anchor_config = AnchorConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.spec["anchors"].items()})
        self.anchors = generate_anchors_np(anchor_config, self.height, self.width)
        self.interpreter = tf.lite.Interpreter(model_path=model_file, num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner()
        self.input_detail = self.runner.get_input_details()["images"]
        self.preprocess = make_preprocess(self.height, self.width)

    def run_network(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 [1, H, W, 3] (RGB 0-255, resized and padded) -> (scores [A, C], box_regression [A, L])."""
        expected_shape = tuple(int(v) for v in self.input_detail["shape"])
        expected_dtype = np.dtype(self.input_detail["dtype"])
        images = np.asarray(images)
        if images.dtype != expected_dtype:
            raise TFLiteInputError(f"the TFLite model takes {expected_dtype.name} images of shape {list(expected_shape)} "
                                   f"(RGB 0-255, resized to fit and padded), got {images.dtype.name}")
        if images.shape != expected_shape:
            raise TFLiteInputError(f"the TFLite model takes images of shape {list(expected_shape)} (batch, height, width, RGB), "
                                   f"got {list(images.shape)}; resize to fit {self.width}x{self.height} and pad bottom/right")
        out = self.runner(images=images)
        return out["scores"][0], out["box_regression"][0]

    def detect_one(self, encoded: bytes) -> dict:
        if not isinstance(encoded, (bytes, bytearray)):
            raise TFLiteInputError(f"expected encoded image bytes, got {type(encoded).__name__}")
        try:
            image, scale, original = self.preprocess(tf.constant(bytes(encoded)))
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
            raise TFLiteInputError(f"cannot decode the image: {exc.message.splitlines()[0]}") from None
        scores, regression = self.run_network(image.numpy())
        return postprocess(scores, regression, self.anchors, self.coder, self.post, scale.numpy(), original.numpy())

    def detect_encoded(self, encoded_list) -> dict:
        """List of encoded images -> dict of numpy arrays [batch, ...] (the SavedModel's outputs)."""
        results = [self.detect_one(data) for data in encoded_list]
        if not results:
            m = self.post.max_detections
            return {keys.OUT_QUADS: np.zeros([0, m, 8], np.float32), keys.OUT_BOXES: np.zeros([0, m, 4], np.float32),
                    keys.OUT_SCORES: np.zeros([0, m], np.float32), keys.OUT_CLASSES: np.zeros([0, m], np.int32),
                    keys.OUT_NUM: np.zeros([0], np.int32)}
        return {k: np.stack([r[k] for r in results]) for k in results[0]}
