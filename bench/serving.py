"""SavedModel latency p50 / p95 for one 1280x720 JPEG through serving_default (decode, resize,
model, decoding, quad NMS), as a ratio to the bare Keras model forward at the same input size.

Model: the demo's architecture (configs/tiny_cpu.cfg, float32) at 384 with realistic score maps:
the classification kernel is scaled up so that scores vary with the image, and its bias shifted so
that CANDIDATES anchors score above the 0.05 floor the export keeps (as evaluation uses it), so
the decoding and the quad NMS work on as many candidates as a trained model gives them."""

import os
import shutil
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from tfdet import flags as tfdet_flags
from tfdet.benchmark import make_untrained_run, report, rewrite_run_weights
from tfdet.input.augment import resize_and_pad
from tfdet.postprocess import PostprocessConfig
from tfdet.serving.export import export_saved_model, load_trained_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE, CALLS, CANDIDATES, FLOOR, SPREAD = 384, 30, 300, 0.05, 2.0


def percentiles(fn):
    fn()
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def realistic_scores(image):
    """A weight change: class logits with spread SPREAD over the anchors of `image`, shifted so that
    CANDIDATES of them score above FLOOR."""
    def change(model):
        layer = model.get_layer("cls_logits_conv")
        kernel, bias = layer.get_weights()
        x = resize_and_pad(tf.constant(image), SIZE)[0][None]
        logits = model(x, training=False)["cls_logits"].numpy().reshape(-1)
        gain = SPREAD / max(float(logits.std()), 1e-6)
        layer.set_weights([kernel * gain, bias * gain])
        logits = model(x, training=False)["cls_logits"].numpy().reshape(-1)
        target = np.sort(logits)[-CANDIDATES]
        shift = float(np.log(FLOOR / (1 - FLOOR))) - target + 1e-3
        layer.set_weights([kernel * gain, bias * gain + shift])
    return change


def main():
    import cv2

    tfdet_flags.define_train_flags()
    tfdet_flags.FLAGS(["bench", f"--flagfile={os.path.join(REPO, 'configs', 'tiny_cpu.cfg')}", "--precision=float32",
                       f"--sizes={SIZE}"])
    config = tfdet_flags.run_config_from_flags()
    root = tempfile.mkdtemp(prefix="tfdet_bench_serving_")
    try:
        rng = np.random.default_rng(0)
        image = cv2.GaussianBlur(rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8), (0, 0), 3)
        for i in range(40):  # dark word-like bars on the noise
            x, y = int(rng.integers(0, 1100)), int(rng.integers(0, 680))
            cv2.rectangle(image, (x, y), (x + int(rng.integers(40, 180)), y + int(rng.integers(12, 40))), (20, 20, 20), -1)
        run = make_untrained_run(os.path.join(root, "run"), config=config)
        rewrite_run_weights(run, realistic_scores(image[..., ::-1].copy()))
        path = export_saved_model(run, os.path.join(root, "export"), post=PostprocessConfig(score_threshold=FLOOR))
        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
        loaded = tf.saved_model.load(path)
        signature = loaded.signatures["serving_default"]
        request = tf.constant([jpeg])
        out = signature(images=request)
        detections = int(out["num_detections"][0])
        p50, p95 = percentiles(lambda: signature(images=request)["num_detections"].numpy())
        model, _, _ = load_trained_model(run)
        forward = tf.function(lambda x: model(x, training=False))
        x = resize_and_pad(tf.constant(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)[..., ::-1].copy()), SIZE)[0][None]
        candidates = int((tf.sigmoid(forward(x)["cls_logits"]) > FLOOR).numpy().sum())
        f50, f95 = percentiles(lambda: forward(x)["cls_logits"].numpy())
        print(f"SavedModel p50 {p50 * 1000:.1f} ms p95 {p95 * 1000:.1f} ms; bare forward p50 {f50 * 1000:.1f} ms; "
              f"{candidates} candidates above {FLOOR}, {detections} detections after NMS", file=sys.stderr)
        report({"bench": "serving", "image": "1280x720 JPEG", "model": "configs/tiny_cpu.cfg (float32)", "input_size": SIZE,
                "score_floor": FLOOR, "candidates": candidates, "detections": detections,
                "p50_ms": round(p50 * 1000, 2), "p95_ms": round(p95 * 1000, 2), "forward_p50_ms": round(f50 * 1000, 2),
                "forward_p95_ms": round(f95 * 1000, 2), "ratio": round(p50 / f50, 3)})
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
