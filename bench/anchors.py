"""Default vs optimised anchors on records of the synthetic generator and of the real ICDAR 2015
samples: best possible recall and mean best IoU side by side, with the run time. The ratio is
optimised over default best possible recall on the synthetic records."""

import os
import shutil
import sys
import tempfile
import time

from tfdet.anchor_opt import optimize, stats
from tfdet.anchors.config import AnchorConfig
from tfdet.benchmark import report
from tfdet.datasets import get_reader
from tfdet.records import writer

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "icdar2015")
TINY = AnchorConfig(min_level=3, max_level=6, base_sizes=(24, 48, 96, 192), aspect_ratios=(1, 2, 4, 8), scales_per_octave=1)
TEXT = AnchorConfig.for_levels(3, 7)


def compare(pattern, default, sizes, levels):
    rows = stats.load_boxes(pattern)
    boxes = stats.network_boxes(rows, sizes)
    start = time.perf_counter()
    tuned, _ = optimize.optimize_kmeans(boxes, levels, 9, 4)
    seconds = time.perf_counter() - start
    a, b = optimize.coverage(boxes, default), optimize.coverage(boxes, tuned)
    return {"boxes": int(len(boxes)), "sizes": list(sizes), "seconds": round(seconds, 3),
            "default": {"best_possible_recall": round(a.best_possible_recall, 4), "mean_best_iou": round(a.mean_best_iou, 4)},
            "optimized": {"best_possible_recall": round(b.best_possible_recall, 4), "mean_best_iou": round(b.mean_best_iou, 4),
                          "narrower_than_data": b.narrower_than_data, "anchor_config": tuned.to_dict()}}


def main():
    root = tempfile.mkdtemp(prefix="tfdet_bench_anchors_")
    try:
        writer.convert(get_reader("synthetic", num_images=500, seed=1), os.path.join(root, "syn"), num_shards=2, num_workers=2, progress=False)
        result = {"synthetic_tiny_384": compare(os.path.join(root, "syn", "*.tfrecord"), TINY, (384,), (3, 6))}
        sets = [("icdar2015_real_768", os.path.join(SHARED, "train"))]
        for name, folder in sets:
            if os.path.isdir(folder):
                out = os.path.join(root, name)
                writer.convert(get_reader("icdar2015", image_dir=os.path.join(folder, "images"), annotations=os.path.join(folder, "gt")),
                               out, num_shards=1, progress=False)
                result[name] = compare(os.path.join(out, "*.tfrecord"), TEXT, (768,), (3, 7))
        for name, row in result.items():
            print(f"{name}: BPR {row['default']['best_possible_recall']:.3f} -> {row['optimized']['best_possible_recall']:.3f}, "
                  f"mean IoU {row['default']['mean_best_iou']:.3f} -> {row['optimized']['mean_best_iou']:.3f} ({row['seconds']} s)", file=sys.stderr)
        syn = result["synthetic_tiny_384"]
        report({"bench": "anchors", **result,
                "ratio": round(syn["optimized"]["best_possible_recall"] / syn["default"]["best_possible_recall"], 4)})
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
