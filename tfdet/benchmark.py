"""Helpers shared by bench/ scripts and tests: timing, machine description, an untrained run folder."""

from __future__ import annotations

import json
import os
import platform
import time


def machine() -> str:
    cpus = os.cpu_count()
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpus} CPU cores ({model or platform.processor()}), {platform.system()}"


def best_rate(fn, count: int, repeats: int = 3) -> float:
    """Items per second of fn() (which handles `count` items), best of `repeats`."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = max(best, count / max(time.perf_counter() - start, 1e-9))
    return best


def report(result: dict):
    """The last line of every benchmark: one JSON object."""
    result = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), **result}
    print(json.dumps(result))


def small_run_config(size: int = 256, backbone: str = "tiny", channels: int = 32, **model_fields):
    """The RunConfig of make_untrained_run's small default architecture; `model_fields` replace ModelConfig
    fields (num_classes, classification_loss, ...)."""
    from tfdet.anchors.coder import BoxCoder
    from tfdet.anchors.config import AnchorConfig
    from tfdet.anchors.matcher import MatcherConfig
    from tfdet.input.pipeline import InputConfig
    from tfdet.losses import LossConfig
    from tfdet.modeling.config import ModelConfig
    from tfdet.training.config import OptimConfig, RunConfig

    anchors = AnchorConfig(min_level=3, max_level=6, base_sizes=(24, 48, 96, 192), aspect_ratios=(1, 2, 4), scales_per_octave=1)
    model_cfg = ModelConfig(backbone=backbone, norm="group_norm", fpn_channels=channels, head_channels=channels, head_convs=1,
                            **model_fields)
    return RunConfig(model=model_cfg, anchors=anchors, input=InputConfig(sizes=(size,)), matcher=MatcherConfig(),
                     coder=BoxCoder(), loss=LossConfig(), optim=OptimConfig())


def make_untrained_run(folder: str, size: int = 256, backbone: str = "tiny", channels: int = 32, seed: int = 0,
                       config=None) -> str:
    """A run folder (configs + checkpoint) holding an untrained model: export, serving and
    evaluation code paths do not depend on training. `config` (a RunConfig) replaces the small
    default architecture (small_run_config)."""
    import keras
    import tensorflow as tf

    from tfdet.modeling.retinanet import build_model

    keras.utils.set_random_seed(seed)
    config = config or small_run_config(size, backbone, channels)
    config.save(folder)
    model = build_model(config.model, config.anchors)
    tf.train.Checkpoint(model=model).save(os.path.join(folder, "ckpt"))
    return folder


def rewrite_run_weights(folder: str, change) -> str:
    """Load the run folder's model, call change(model) to set weights, save them as its latest
    checkpoint (a model whose outputs a test or a benchmark controls)."""
    import tensorflow as tf

    from tfdet.serving.export import load_trained_model

    model, _, _ = load_trained_model(folder)
    change(model)
    tf.train.Checkpoint(model=model).save(os.path.join(folder, "ckpt"))
    return folder


def constant_head_outputs(model, cls_bias, box_bias=None):
    """Zero the final head kernels so that every location outputs the biases: class logits
    `cls_bias` [anchors_per_location * num_logits] and box offsets `box_bias` (zeros: the anchors)."""
    import numpy as np

    for name, bias in (("cls_logits_conv", cls_bias), ("box_regression_conv", box_bias)):
        layer = model.get_layer(name)
        kernel, old = layer.get_weights()
        layer.set_weights([np.zeros_like(kernel), np.zeros_like(old) if bias is None else np.asarray(bias, old.dtype)])


class PpocrDetector:
    """PP-OCRv6's small text detector (the `rapidocr` wheel, ONNX Runtime, DB post-processing at its
    defaults: min side 736) behind tfdet's detector interface, `detect_encoded(list of JPEG/PNG bytes)`
    -> batched outputs with the serving names, so tfdet's evaluators score it exactly as our models.
    A benchmark peer only (`pip install -e '.[bench]'`); `available()` says why it is missing."""

    def __init__(self, threads: int = 2, max_detections: int = 300):
        from rapidocr import RapidOCR

        self.max_detections = max_detections
        self.engine = RapidOCR(params={"Global.use_cls": False, "Global.use_rec": False, "Global.log_level": "error",
                                       "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                                       "EngineConfig.onnxruntime.inter_op_num_threads": 1})

    @staticmethod
    def available() -> str | None:
        """None when rapidocr and onnxruntime import, else the reason."""
        try:
            import onnxruntime  # noqa: F401
            import rapidocr  # noqa: F401
        except ImportError as exc:
            return f"rapidocr / onnxruntime not installed ({exc}); pip install rapidocr==3.10.0 onnxruntime"
        return None

    def detect_one(self, data: bytes) -> tuple:
        """(quads [N, 4, 2] float32 in image pixels, scores [N])."""
        import numpy as np

        result = self.engine(data, use_det=True, use_cls=False, use_rec=False)
        if result.boxes is None or len(result.boxes) == 0:
            return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
        return np.asarray(result.boxes, np.float32).reshape(-1, 4, 2), np.asarray(result.scores, np.float32)

    def detect_encoded(self, encoded_list) -> dict:
        import numpy as np

        from tfdet import geometry, keys

        k = self.max_detections
        out = {keys.OUT_QUADS: np.zeros((len(encoded_list), k, 8), np.float32),
               keys.OUT_BOXES: np.zeros((len(encoded_list), k, 4), np.float32),
               keys.OUT_SCORES: np.zeros((len(encoded_list), k), np.float32),
               keys.OUT_CLASSES: np.ones((len(encoded_list), k), np.int32),
               keys.OUT_NUM: np.zeros((len(encoded_list),), np.int32)}
        for i, data in enumerate(encoded_list):
            quads, scores = self.detect_one(data)
            order = np.argsort(-scores)[:k]
            quads = np.stack([geometry.order_quad(q) for q in quads[order]]) if len(order) else quads[:0]
            n = len(order)
            out[keys.OUT_QUADS][i, :n] = quads.reshape(n, 8)
            out[keys.OUT_BOXES][i, :n] = np.stack([quads[..., 1].min(1), quads[..., 0].min(1), quads[..., 1].max(1),
                                                   quads[..., 0].max(1)], -1) if n else 0
            out[keys.OUT_SCORES][i, :n] = scores[order]
            out[keys.OUT_NUM][i] = n
        return out
