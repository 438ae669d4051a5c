"""End-to-end detection latency per 1280x720 JPEG (bytes in -> quads out: decode, resize, network,
decoding, quad NMS) on N threads, p50 / p95, for a recipe as TFLite (XNNPACK) and as a SavedModel, with
PP-OCRv6's small text detector (RapidOCR + ONNX Runtime, DB post-processing) as the peer in the same run
when `rapidocr` and `onnxruntime` are installed (`pip install -e '.[cpu,bench]'`; skipped with a message
when not).

    python bench/latency.py [--config=configs/mobilenetv2_fpn_cpu.cfg] [--calls=30] [--threads=2]
    python bench/latency.py --model=models/NAME      # a shipped model: its SavedModel and its TFLite file

Recipe variants (`--config`): TFLite float32 at 1280 x (720 padded to a multiple of the largest anchor
stride: 736 for P3-P5, 768 with P6; also its network alone, without JPEG decoding, resizing, decoding of
offsets and NMS), the same with dense (not separable) FPN and heads, the same as dynamic-range int8, and
the SavedModel export (it runs on the canvas that holds the resized image, the same 1280 x 736/768).
Weights are untrained (latency does not depend on them) but the classification bias is set so that about
300 anchors score above the 0.5 threshold on the image: NMS has realistic work. With `--model` the
trained model's own SavedModel and TFLite file are timed instead.
Variants are timed in interleaved rounds so that load from other processes hits all of them alike.
`ratio` = PP-OCR p50 / our TFLite p50 (how many times faster), or null without the peer.
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
WIDTH, IMAGE_HEIGHT = 1280, 720  # the photograph; the TFLite input pads its height to the largest stride
CANDIDATES = 300  # anchors above the score threshold per image


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "mobilenetv2_fpn_cpu.cfg"))
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--image", default="", help="a 1280x720 JPEG (default: an ICDAR 2015 sample, else synthetic)")
    parser.add_argument("--model", default="", help="a shipped model folder (SavedModel + model.tflite) instead of --config")
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
    # no weights: latency does not depend on them (the normalisation stays what auto resolves to)
    values(["latency", f"--flagfile={config_file}", "--backbone_weights=", *overrides])
    return tfdet_flags.run_config_from_flags(values)


def canvas_height(config) -> int:
    stride = config.anchors.max_stride
    return -(-IMAGE_HEIGHT // stride) * stride


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
    image = make_preprocess(canvas_height(config), WIDTH)(tf.constant(jpeg))[0]
    logits = np.sort(model(image)["cls_logits"].numpy().ravel())
    bias = model.get_layer("cls_logits_conv").bias
    bias.assign(bias.numpy() - logits[-CANDIDATES])  # logit > 0 <=> score > 0.5 for the top CANDIDATES
    found = int((model(image)["cls_logits"].numpy() > 0).sum())
    print(f"{os.path.basename(folder)}: {found} anchors above the threshold on the image", file=sys.stderr)
    tf.train.Checkpoint(model=model).save(os.path.join(folder, "ckpt"))
    return folder


def ppocr_peer(threads: int):
    """PP-OCRv6 small det through RapidOCR (bytes -> number of boxes), or None with a message."""
    from tfdet.benchmark import PpocrDetector

    missing = PpocrDetector.available()
    if missing:
        print(f"peer skipped: {missing}", file=sys.stderr)
        return None
    peer = PpocrDetector(threads)
    return lambda data: len(peer.detect_one(data)[1])


def export_parity(saved, lite, jpeg: bytes) -> dict:
    """SavedModel against TFLite on the same image: each SavedModel detection's best IoU with a TFLite one."""
    from tfdet import keys
    from tfdet.evaluation.quad_map import quad_iou_matrix

    quads = []
    for detector in (saved, lite):
        out = detector.detect_encoded([jpeg])
        quads.append(out[keys.OUT_QUADS][0, :int(out[keys.OUT_NUM][0])].reshape(-1, 4, 2))
    iou = quad_iou_matrix(quads[0], quads[1])
    best = iou.max(axis=1) if iou.shape[1] else np.zeros(len(quads[0]))
    return {"saved_model_detections": len(quads[0]), "tflite_detections": len(quads[1]),
            "min_iou": round(float(best.min()), 4) if len(best) else 1.0, "mean_iou": round(float(best.mean()), 4) if len(best) else 1.0}


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
        if args.model:
            shipped = TFLiteDetector(args.model, args.threads)
            lite_name = f"tflite_{shipped.spec['quantization']}"
            detectors = {lite_name: shipped, "saved_model": SavedModelDetector(args.model)}
            config_name, width, height = os.path.relpath(os.path.abspath(args.model), REPO), shipped.width, shipped.height
        else:
            config = run_config(args.config)
            width, height, lite_name = WIDTH, canvas_height(config), "tflite_float32"
            light = make_run(os.path.join(root, "light"), config, jpeg)
            dense = make_run(os.path.join(root, "dense"), run_config(args.config, "--noseparable_convs"), jpeg)
            size = (height, WIDTH)
            detectors = {
                "tflite_float32": TFLiteDetector(export_tflite(light, os.path.join(root, "lite"), post=post, input_size=size),
                                                 args.threads),
                "tflite_dynamic_int8": TFLiteDetector(export_tflite(light, os.path.join(root, "lite_dq"), post=post,
                                                                    input_size=size, quantization="dynamic_int8"), args.threads),
                "tflite_dense_heads": TFLiteDetector(export_tflite(dense, os.path.join(root, "lite_dense"), post=post,
                                                                   input_size=size), args.threads),
                "saved_model": SavedModelDetector(export_saved_model(light, os.path.join(root, "saved"), post=post, size=WIDTH)),
            }
            config_name = os.path.relpath(args.config, REPO)
        functions = {name: (lambda d=d: int(d.detect_encoded([jpeg])[keys.OUT_NUM][0])) for name, d in detectors.items()}
        lite = detectors[lite_name]
        network_input = lite.preprocess(tf.constant(jpeg))[0].numpy()
        functions[f"{lite_name}_network_only"] = lambda: len(lite.run_network(network_input)[0])  # the share of the model
        peer = ppocr_peer(args.threads)
        if peer is not None:
            functions["ppocr_v6_small_det"] = lambda: peer(jpeg)
        measured = interleaved(functions, args.calls)
        # a --config run times freshly initialised weights whose near-tied scores make NMS pick arbitrary boxes:
        # detection parity means something for a trained model only
        parity = (export_parity(detectors["saved_model"], lite, jpeg) if args.model
                  else "not measured: untrained weights (give --model=models/<name> for SavedModel vs TFLite parity)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for name, (p50, p95, found) in measured.items():
        what = "anchors scored" if name.endswith("_network_only") else "detections"
        print(f"{name:28s} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  {what} {found}", file=sys.stderr)
    light_p50 = measured[lite_name][0]
    peer_p50 = measured["ppocr_v6_small_det"][0] if peer is not None else None
    dense = measured.get("tflite_dense_heads")
    report({"bench": "latency", "image": "1280x720 JPEG", "threads": args.threads, "tflite_input": f"{width}x{height}",
            "config": config_name, "calls": args.calls,
            **{f"{name}_p50_ms": round(v[0] * 1000, 1) for name, v in measured.items()},
            **{f"{name}_p95_ms": round(v[1] * 1000, 1) for name, v in measured.items()},
            "separable_speedup": round(dense[0] / light_p50, 2) if dense else None, "export_parity": parity,
            "ratio": round(peer_p50 / light_p50, 2) if peer_p50 else None})


if __name__ == "__main__":
    main()
