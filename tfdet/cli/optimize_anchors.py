"""tools/optimize_anchors.py: boxes -> optimised AnchorConfig flagfile, report and plots."""

from __future__ import annotations

import json
import os
import sys
import time

from tfdet import flags as tfdet_flags


def _row(name, cov):
    return (f"{name:>10}: mean best IoU {cov.mean_best_iou:.4f}  best possible recall {cov.best_possible_recall:.4f}  "
            f"anchor sides {cov.anchor_range[0]:.1f}-{cov.anchor_range[1]:.1f} px (data p1-p99 {cov.data_range[0]:.1f}-{cov.data_range[1]:.1f})")


def run(FLAGS) -> int:
    from tfdet.anchor_opt import optimize, stats
    from tfdet.input.pipeline import parse_sizes

    start = time.time()
    try:
        rows = stats.load_boxes(FLAGS.records)
        default = tfdet_flags.anchor_config_from_flags(FLAGS)
        augment = tfdet_flags.run_config_from_flags(FLAGS).input.augment  # the training crop (--crop_probability, ...)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sizes = parse_sizes(FLAGS.sizes)
    boxes = stats.network_boxes(rows, sizes, FLAGS.seed, augment)
    print(f"{len(rows)} boxes, {len(boxes)} draws through the training crop (probability {augment.crop_probability}) "
          f"at training sizes {list(sizes)} (network pixels)", file=sys.stderr)
    levels = (default.min_level, default.max_level)
    if FLAGS.method == "kmeans":
        optimized, centers = optimize.optimize_kmeans(boxes, levels, FLAGS.num_clusters, FLAGS.num_ratios, FLAGS.seed, FLAGS.positive_iou)
        method = f"k-means (1 - IoU), {FLAGS.num_clusters} clusters"
    else:
        optimized = optimize.optimize_evolution(boxes, levels, FLAGS.num_scales, FLAGS.num_ratios, FLAGS.seed, FLAGS.positive_iou)
        method = "differential evolution (share of boxes with IoU >= positive threshold)"
    cov_default = optimize.coverage(boxes, default, FLAGS.positive_iou, FLAGS.seed)
    cov_opt = optimize.coverage(boxes, optimized, FLAGS.positive_iou, FLAGS.seed)
    print(_row("default", cov_default))
    print(_row("optimized", cov_opt))
    print(f"{'size bucket':>12} {'boxes':>8} {'unmatched default':>18} {'unmatched optimized':>20}")
    for bucket, d in cov_default.unmatched_by_size.items():
        o = cov_opt.unmatched_by_size[bucket]
        print(f"{bucket:>12} {d['boxes']:>8} {d['without_positive']:>18} {o['without_positive']:>20}")
    if cov_opt.narrower_than_data:
        print(f"warning: the optimized anchors ({cov_opt.anchor_range[0]:.1f}-{cov_opt.anchor_range[1]:.1f} px) do not cover the "
              f"data's 1st-99th percentile ({cov_opt.data_range[0]:.1f}-{cov_opt.data_range[1]:.1f} px); consider other levels")
    header = [f"written by tools/optimize_anchors.py ({method}) from {FLAGS.records}",
              f"training sizes {list(sizes)}, crop probability {augment.crop_probability}, "
              f"{f'crop zoom {augment.crop_zoom}' if augment.crop_zoom else f'min scale {augment.crop_min_scale}'}; "
              f"{len(rows)} boxes ({len(boxes)} draws)",
              f"default:   mean best IoU {cov_default.mean_best_iou:.4f}, best possible recall {cov_default.best_possible_recall:.4f}",
              f"optimized: mean best IoU {cov_opt.mean_best_iou:.4f}, best possible recall {cov_opt.best_possible_recall:.4f}"]
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, "w") as f:
        f.write(optimize.flagfile_text(optimized, header))
    plots = FLAGS.plots_dir or os.path.dirname(os.path.abspath(FLAGS.output))
    os.makedirs(plots, exist_ok=True)
    stem = os.path.splitext(os.path.basename(FLAGS.output))[0]
    scatter = os.path.join(plots, f"{stem}_shapes.png")
    cover = os.path.join(plots, f"{stem}_coverage.png")
    optimize.plot(boxes, {"default": default, "optimized": optimized}, {"default": cov_default, "optimized": cov_opt}, scatter, cover, FLAGS.seed)
    summary = {"output": FLAGS.output, "boxes": len(rows), "draws": len(boxes), "seconds": round(time.time() - start, 2),
               "default": cov_default.to_dict(), "optimized": cov_opt.to_dict(), "anchor_config": optimized.to_dict(),
               "plots": [scatter, cover]}
    print(json.dumps(summary))
    return 0
