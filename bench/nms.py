"""In-graph quad NMS (tf.function, core TF ops) on 2,000 and 10,000 candidates as a ratio to the
straightforward shapely loop (tfdet.postprocess.reference_quad_nms), same inputs, same result."""

import sys
import time

import numpy as np
import tensorflow as tf

from tfdet import geometry
from tfdet.benchmark import report
from tfdet.postprocess import quad_nms, reference_quad_nms

MAX_OUT, IOU = 100, 0.3


def candidates(n, seed):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0, 1280, (max(n // 20, 1), 2))
    quads = []
    for i in range(n):  # clusters of overlapping candidates around "words", as a detector produces
        c = centers[i % len(centers)] + rng.normal(0, 6, 2)
        w, h, a = rng.uniform(40, 120), rng.uniform(12, 30), rng.normal(0, 0.2)
        pts = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        quads.append(geometry.order_quad(pts @ rot.T + c))
    return np.array(quads, np.float32), rng.random(n).astype(np.float32)


def main():
    fn = tf.function(lambda q, s: quad_nms(q, s, IOU, MAX_OUT))
    rows = {}
    for n in (2000, 10000):
        quads, scores = candidates(n, n)
        q, s = tf.constant(quads), tf.constant(scores)
        fn(q, s)
        start = time.perf_counter()
        for _ in range(3):
            ours = fn(q, s).numpy()
        t_ours = (time.perf_counter() - start) / 3
        start = time.perf_counter()
        ref = reference_quad_nms(quads, scores, IOU, MAX_OUT)
        t_ref = time.perf_counter() - start
        assert np.array_equal(ours, ref), "in-graph NMS and the reference disagree"
        rows[f"n_{n}"] = {"tf_seconds": round(t_ours, 4), "shapely_seconds": round(t_ref, 3), "speedup": round(t_ref / t_ours, 2), "kept": int(len(ours))}
        print(f"{n} candidates: in-graph {t_ours * 1000:.1f} ms, shapely loop {t_ref * 1000:.0f} ms", file=sys.stderr)
    report({"bench": "nms", "max_output": MAX_OUT, "iou": IOU, **rows,
            "ratio": round(rows["n_10000"]["tf_seconds"] / rows["n_10000"]["shapely_seconds"], 5)})


if __name__ == "__main__":
    main()
