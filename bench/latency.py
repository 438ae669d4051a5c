"""End-to-end detection latency per 1280x720 JPEG (bytes in -> quads out: decode, resize, network,
decoding, quad NMS) on N threads, p50 / p95, for the MobileNetV2 config as TFLite (XNNPACK) and as a
SavedModel, with PP-OCRv6's small text detector (RapidOCR + ONNX Runtime, DB post-processing) as the
peer in the same run when `rapidocr` and `onnxruntime` are installed (skipped with a message when not).

    python bench/latency.py [--config=configs/mobilenetv2_fpn_cpu.cfg] [--calls=30] [--threads=2]

Variants: TFLite float32 at 1280x736 (the light model; also its network alone, without JPEG decoding,
resizing, decoding of offsets and NMS), the same with dense (not separable) FPN and heads, the same as
dynamic-range int8, and the SavedModel export (square input: the export pads to 1280x1280). Weights are untrained (latency does not depend on them) but the classification bias is
set so that about 300 anchors score above the 0.5 threshold on the image: NMS has realistic work.
Variants are timed in interleaved rounds so that load from other processes hits all of them alike.
`ratio` = PP-OCR p50 / light TFLite p50 (how many times faster), or null without the peer.
"""

from __future__ import annotations

import argparse
import copy
import glob
import os
import shutil
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTH, HEIGHT = 1280, 736  # network input of the TFLite model: 1280x720 fits, padded to a multiple of 32
CANDIDATES = 300  # anchors above the score threshold per image


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "mobilenetv2_fpn_cpu.cfg"))
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--image", default="", help="a 1280x720 JPEG (default: an ICDAR 2015 sample, else synthetic)")
    return parser.parse_args()


def bench_image(path: str) -> bytes:
    import cv2

    candidates = [path] if path else sorted(glob.glob(os.path.join(REPO, "..", "shared", "data", "icdar2015", "*", "images", "*.jpg")))
    for name in candidates:
        if os.path.exists(name):
            return open(name, "rb").read()
    print("no ICDAR 2015 sample found: timing a synthetic 1280x720 JPEG", file=sys.stderr)
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8), (0, 0), 3)
    return cv2.imencode(".jpg", image)[1].tobytes()


def run_config(config_file: str, *overrides: str):
    from tfdet import flags as tfdet_flags

    tfdet_flags.define_train_flags()
    values = copy.deepcopy(tfdet_flags.FLAGS)
    # no download: untrained weights, fed the normalisation the ImageNet weights would get
    values(["latency", f"--flagfile={config_file}", "--backbone_weights=", "--input_normalization=tf", *overrides])
    return tfdet_flags.run_config_from_flags(values)


def make_run(folder: str, config, jpeg: bytes) -> str:
    """Run folder with an untrained model whose scores put ~CANDIDATES anchors above 0.5 on `jpeg`."""
    import keras
    import tensorflow as tf

    from tfdet.modeling.retinanet import build_model
    from tfdet.serving.tflite import make_preprocess

    keras.utils.set_random_seed(0)
    config.save(folder)
    model = build_model(config.model, config.anchors)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # He-scaled classification branch: scores vary from place to place, as a trained model's do
        if layer.name.startswith(("cls_head", "cls_logits_conv")):
            for weight in layer.weights:
                if len(weight.shape) == 4:
                    fan_in = int(np.prod(weight.shape[:2])) * (1 if "depthwise" in weight.path else int(weight.shape[2]))
                    weight.assign(rng.normal(0, np.sqrt(2 / fan_in), weight.shape).astype(np.float32))
    image = make_preprocess(HEIGHT, WIDTH)(tf.constant(jpeg))[0]
    logits = np.sort(model(image)["cls_logits"].numpy().ravel())
    bias = model.get_layer("cls_logits_conv").bias
    bias.assign(bias.numpy() - logits[-CANDIDATES])  # logit > 0 <=> score > 0.5 for the top CANDIDATES
    found = int((model(image)["cls_logits"].numpy() > 0).sum())
    print(f"{os.path.basename(folder)}: {found} anchors above the threshold on the image", file=sys.stderr)
    tf.train.Checkpoint(model=model).save(os.path.join(folder, "ckpt"))
    return folder


def ppocr_peer(threads: int):
    """PP-OCRv6 small det through RapidOCR (bytes -> boxes), or None with a message."""
    try:
        from rapidocr import RapidOCR
    except ImportError as exc:
        print(f"peer skipped: rapidocr / onnxruntime not installed ({exc}); pip install rapidocr==3.10.0 onnxruntime",
              file=sys.stderr)
        return None
    engine = RapidOCR(params={"Global.use_cls": False, "Global.use_rec": False, "Global.log_level": "error",
                              "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                              "EngineConfig.onnxruntime.inter_op_num_threads": 1})

    def detect(data):
        result = engine(data, use_det=True, use_cls=False, use_rec=False)
        return 0 if result.boxes is None else len(result.boxes)

    return detect


def interleaved(functions: dict, calls: int) -> dict:
    """name -> (p50 s, p95 s, last result); every round times each function once, in turn."""
    results = {name: fn() for name, fn in functions.items()}  # warm-up (graph tracing, delegate set-up)
    times = {name: [] for name in functions}
    for _ in range(calls):
        for name, fn in functions.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: (float(np.percentile(t, 50)), float(np.percentile(t, 95)), results[name]) for name, t in times.items()}


def main():
    args = parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tfdet import keys
    from tfdet.benchmark import report
    from tfdet.postprocess import PostprocessConfig
    from tfdet.serving.export import SavedModelDetector, export_saved_model
    from tfdet.serving.tflite import TFLiteDetector, export_tflite

    jpeg = bench_image(args.image)
    post = PostprocessConfig(score_threshold=0.5, nms_iou_threshold=0.3, max_detections=100, pre_nms_top_k=1000)
    root = tempfile.mkdtemp(prefix="tfdet_bench_latency_")
    try:
        light = make_run(os.path.join(root, "light"), run_config(args.config), jpeg)
        dense = make_run(os.path.join(root, "dense"), run_config(args.config, "--noseparable_convs"), jpeg)
        size = (HEIGHT, WIDTH)
        detectors = {
            "tflite_float32": TFLiteDetector(export_tflite(light, os.path.join(root, "lite"), post=post, input_size=size), args.threads),
            "tflite_dynamic_int8": TFLiteDetector(export_tflite(light, os.path.join(root, "lite_dq"), post=post, input_size=size,
                                                                quantization="dynamic_int8"), args.threads),
            "tflite_dense_heads": TFLiteDetector(export_tflite(dense, os.path.join(root, "lite_dense"), post=post, input_size=size),
                                                 args.threads),
            "saved_model_1280x1280": SavedModelDetector(export_saved_model(light, os.path.join(root, "saved"), post=post, size=WIDTH)),
        }
        functions = {name: (lambda d=d: int(d.detect_encoded([jpeg])[keys.OUT_NUM][0])) for name, d in detectors.items()}
        lite = detectors["tflite_float32"]
        network_input = lite.preprocess(tf.constant(jpeg))[0].numpy()
        functions["tflite_float32_network_only"] = lambda: len(lite.run_network(network_input)[0])  # the share of the model
        peer = ppocr_peer(args.threads)
        if peer is not None:
            functions["ppocr_v6_small_det"] = lambda: peer(jpeg)
        measured = interleaved(functions, args.calls)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for name, (p50, p95, found) in measured.items():
        print(f"{name:24s} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  detections {found}", file=sys.stderr)
    light_p50 = measured["tflite_float32"][0]
    peer_p50 = measured["ppocr_v6_small_det"][0] if peer is not None else None
    report({"bench": "latency", "image": "1280x720 JPEG", "threads": args.threads, "tflite_input": f"{WIDTH}x{HEIGHT}",
            "config": os.path.relpath(args.config, REPO), "calls": args.calls,
            **{f"{name}_p50_ms": round(v[0] * 1000, 1) for name, v in measured.items()},
            **{f"{name}_p95_ms": round(v[1] * 1000, 1) for name, v in measured.items()},
            "separable_speedup": round(measured["tflite_dense_heads"][0] / light_p50, 2),
            "ratio": round(peer_p50 / light_p50, 2) if peer_p50 else None})


if __name__ == "__main__":
    main()
