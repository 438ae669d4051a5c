"""Default vs optimised anchors, fitted on training boxes and scored on held-out boxes: records of
the synthetic generator (fit: seed 1, scored: seed 2) and the real ICDAR 2015 samples (fit: the
training samples, scored: the test samples). Boxes are seen as training shows them (through the
training crop, at the training size). Best possible recall and mean best IoU side by side, with
the fit time. The ratio is optimised over default best possible recall on the held-out synthetic
boxes."""

import os
import shutil
import sys
import tempfile
import time

from tfdet.anchor_opt import optimize, stats
from tfdet.anchors.config import AnchorConfig
from tfdet.benchmark import report
from tfdet.datasets import get_reader
from tfdet.input.augment import AugmentConfig
from tfdet.records import writer

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "icdar2015")
TINY = AnchorConfig(min_level=3, max_level=6, base_sizes=(24, 48, 96, 192), aspect_ratios=(1, 2, 4, 8), scales_per_octave=1)
TEXT = AnchorConfig.for_levels(3, 7)
TINY_CROP = AugmentConfig(crop_probability=0.5, crop_min_scale=0.3)  # configs/tiny_cpu.cfg
TEXT_CROP = AugmentConfig()  # the flag defaults (probability 0.8, min scale 0.1)


def compare(fit_pattern, test_pattern, default, sizes, levels, crop):
    fit_rows, test_rows = stats.load_boxes(fit_pattern), stats.load_boxes(test_pattern)
    fit = stats.network_boxes(fit_rows, sizes, seed=0, augment=crop)
    held_out = stats.network_boxes(test_rows, sizes, seed=1, augment=crop)
    start = time.perf_counter()
    tuned, _ = optimize.optimize_kmeans(fit, levels, 9, 4)
    seconds = time.perf_counter() - start
    row = {"fit_boxes": int(len(fit_rows)), "held_out_boxes": int(len(test_rows)), "sizes": list(sizes),
           "crop_probability": crop.crop_probability, "seconds": round(seconds, 3), "anchor_config": tuned.to_dict()}
    for name, boxes in (("held_out", held_out), ("fit", fit)):
        a, b = optimize.coverage(boxes, default), optimize.coverage(boxes, tuned)
        row[name] = {"default": {"best_possible_recall": round(a.best_possible_recall, 4), "mean_best_iou": round(a.mean_best_iou, 4)},
                     "optimized": {"best_possible_recall": round(b.best_possible_recall, 4), "mean_best_iou": round(b.mean_best_iou, 4),
                                   "narrower_than_data": b.narrower_than_data}}
    return row


def convert_icdar(folder, out):
    reader = get_reader("icdar2015", image_dir=os.path.join(folder, "images"), annotations=os.path.join(folder, "gt"))
    writer.convert(reader, out, num_shards=1, progress=False)
    return os.path.join(out, "*.tfrecord")


def main():
    root = tempfile.mkdtemp(prefix="tfdet_bench_anchors_")
    try:
        for split, seed in (("fit", 1), ("held_out", 2)):
            writer.convert(get_reader("synthetic", num_images=500, seed=seed), os.path.join(root, "syn", split), num_shards=2,
                           num_workers=2, progress=False)
        syn = os.path.join(root, "syn", "{}", "*.tfrecord")
        result = {"synthetic_tiny_384": compare(syn.format("fit"), syn.format("held_out"), TINY, (384,), (3, 6), TINY_CROP)}
        if os.path.isdir(os.path.join(SHARED, "train")) and os.path.isdir(os.path.join(SHARED, "test")):
            result["icdar2015_real_768"] = compare(convert_icdar(os.path.join(SHARED, "train"), os.path.join(root, "ic15_train")),
                                                   convert_icdar(os.path.join(SHARED, "test"), os.path.join(root, "ic15_test")),
                                                   TEXT, (768,), (3, 7), TEXT_CROP)
        for name, row in result.items():
            for part in ("held_out", "fit"):
                r = row[part]
                print(f"{name} ({part} boxes): BPR {r['default']['best_possible_recall']:.3f} -> {r['optimized']['best_possible_recall']:.3f}, "
                      f"mean IoU {r['default']['mean_best_iou']:.3f} -> {r['optimized']['mean_best_iou']:.3f}", file=sys.stderr)
        held = result["synthetic_tiny_384"]["held_out"]
        report({"bench": "anchors", **result,
                "ratio": round(held["optimized"]["best_possible_recall"] / held["default"]["best_possible_recall"], 4)})
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
