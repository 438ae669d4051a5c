"""SavedModel latency p50 / p95 for one 1280x720 JPEG through serving_default (decode, resize,
model, decoding, quad NMS), as a ratio to the bare Keras model forward at the same input size.
Model: the demo's tiny architecture at 384 (untrained weights: latency does not depend on them)."""

import os
import shutil
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from tfdet.benchmark import make_untrained_run, report
from tfdet.postprocess import PostprocessConfig
from tfdet.serving.export import export_saved_model, load_trained_model

SIZE, CALLS = 384, 30


def percentiles(fn):
    fn()
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main():
    import cv2

    root = tempfile.mkdtemp(prefix="tfdet_bench_serving_")
    try:
        run = make_untrained_run(os.path.join(root, "run"), size=SIZE, channels=64)
        path = export_saved_model(run, os.path.join(root, "export"), post=PostprocessConfig(score_threshold=0.05))
        rng = np.random.default_rng(0)
        image = cv2.GaussianBlur(rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8), (0, 0), 3)
        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        loaded = tf.saved_model.load(path)
        signature = loaded.signatures["serving_default"]
        request = tf.constant([jpeg])
        p50, p95 = percentiles(lambda: signature(images=request)["num_detections"].numpy())
        model, _, _ = load_trained_model(run)
        forward = tf.function(lambda x: model(x, training=False))
        x = tf.zeros([1, SIZE, SIZE, 3])
        f50, f95 = percentiles(lambda: forward(x)["cls_logits"].numpy())
        print(f"SavedModel p50 {p50 * 1000:.1f} ms p95 {p95 * 1000:.1f} ms; bare forward p50 {f50 * 1000:.1f} ms", file=sys.stderr)
        report({"bench": "serving", "image": "1280x720 JPEG", "input_size": SIZE, "p50_ms": round(p50 * 1000, 2),
                "p95_ms": round(p95 * 1000, 2), "forward_p50_ms": round(f50 * 1000, 2), "ratio": round(p50 / f50, 3)})
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
