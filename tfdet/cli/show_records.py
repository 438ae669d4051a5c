"""tools/show_records.py: ground truth (or augmented training batches) drawn on PNGs."""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def run(FLAGS) -> int:
    from tfdet import visualize
    from tfdet.records.codec import read_samples

    os.makedirs(FLAGS.output_dir, exist_ok=True)
    written = []
    try:
        if FLAGS.augmented:
            written = show_augmented(FLAGS)
        elif FLAGS.anchor_coverage:
            written, uncovered = show_anchor_coverage(FLAGS)
            print(f"{uncovered['boxes']} of {uncovered['total']} boxes have no anchor at IoU >= {uncovered['positive_iou']} "
                  "(drawn red)")
        else:
            for i, sample in enumerate(read_samples(FLAGS.records)):
                if i >= FLAGS.num_images:
                    break
                path = os.path.join(FLAGS.output_dir, f"{i:04d}_{os.path.splitext(os.path.basename(sample.filename))[0]}.png")
                visualize.save_png(path, visualize.sample_picture(sample))
                written.append(path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"pictures": len(written), "output_dir": FLAGS.output_dir}))
    return 0


def anchor_coverage(boxes_yxyx: np.ndarray, anchors_yxyx: np.ndarray, positive_iou: float):
    """-> (covered: bool [N] (some anchor has IoU >= positive_iou), covering anchor indices per box)."""
    from tfdet.ops.quads import box_iou_and_ioa_yxyx

    if not len(boxes_yxyx):
        return np.zeros(0, bool), []
    iou = box_iou_and_ioa_yxyx(np.asarray(boxes_yxyx, np.float32), np.asarray(anchors_yxyx, np.float32))[0].numpy()
    covering = [np.nonzero(row >= positive_iou)[0] for row in iou]
    return np.array([len(c) > 0 for c in covering]), covering


def show_anchor_coverage(FLAGS) -> tuple[list[str], dict]:
    """The "debug annotations" view: each record resized as training resizes it (largest --sizes),
    the anchors that cover each box (IoU >= --positive_iou) in green, each box that no anchor
    covers in red (covered boxes in blue)."""
    import tensorflow as tf

    from tfdet import flags as tfdet_flags
    from tfdet import visualize
    from tfdet.anchors.generator import generate_anchors_np
    from tfdet.input.augment import resize_and_pad
    from tfdet.records.codec import read_samples

    config = tfdet_flags.run_config_from_flags(FLAGS)
    size = max(config.input.sizes)
    anchors = generate_anchors_np(config.anchors, size, size)
    threshold = config.matcher.positive_iou
    written, total, missed = [], 0, 0
    for i, sample in enumerate(read_samples(FLAGS.records)):
        if i >= FLAGS.num_images:
            break
        padded, scale = resize_and_pad(tf.io.decode_image(sample.image, channels=3, expand_animations=False), size)
        picture = np.clip(padded.numpy(), 0, 255).astype(np.uint8)
        care = [j for j in range(sample.num_objects) if not sample.difficult[j]]
        quads = sample.quads[care] * scale.numpy()[None, None, :] if care else np.zeros((0, 4, 2))
        boxes = np.stack([quads[..., 1].min(1), quads[..., 0].min(1), quads[..., 1].max(1), quads[..., 0].max(1)], -1)
        covered, covering = anchor_coverage(boxes, anchors, threshold)
        chosen = anchors[np.unique(np.concatenate(covering))] if covering else np.zeros((0, 4))
        anchor_quads = np.stack([chosen[:, [1, 0]], chosen[:, [3, 0]], chosen[:, [3, 2]], chosen[:, [1, 2]]], 1)
        picture = visualize.draw_quads(picture, anchor_quads, [visualize.CARE_COLOR] * len(anchor_quads), thickness=1)
        colors = [visualize.PRED_COLOR if c else visualize.DONT_CARE_COLOR for c in covered]
        picture = visualize.draw_quads(picture, quads, colors, thickness=2)
        total += len(covered)
        missed += int((~covered).sum())
        path = os.path.join(FLAGS.output_dir, f"anchors_{i:04d}_{os.path.splitext(os.path.basename(sample.filename))[0]}.png")
        visualize.save_png(path, picture)
        written.append(path)
    return written, {"boxes": missed, "total": total, "positive_iou": threshold}


def show_augmented(FLAGS) -> list[str]:
    """Augmented, resized training images with their care / don't-care quads and positive anchors."""
    import tensorflow as tf

    from tfdet import flags as tfdet_flags
    from tfdet import visualize
    from tfdet.anchors.generator import generate_anchors
    from tfdet.input.parser import parse_example
    from tfdet.input.pipeline import _augment_example, _record_dataset, make_targets

    config = tfdet_flags.run_config_from_flags(FLAGS)
    ds = _record_dataset(FLAGS.records, config.input.seed, True, False).enumerate()
    size = max(config.input.sizes)
    written = []
    for index, serialized in ds.take(FLAGS.num_images):
        example = parse_example(serialized, decode=False)
        seed = tf.stack([tf.constant(config.input.seed, tf.int64), index])
        image, quads, labels, difficult = _augment_example(example, seed, config.input.augment, size)
        targets = make_targets(image, quads, labels, difficult, size, config.anchors, config.matcher, config.coder,
                               config.input.augment, seed)
        scaled = targets["quads"]
        picture = np.clip(targets["image"].numpy(), 0, 255).astype(np.uint8)
        anchors = generate_anchors(config.anchors, size, size).numpy()
        positive = anchors[targets["cls_targets"].numpy() > 0]
        anchor_quads = np.stack([positive[:, [1, 0]], positive[:, [3, 0]], positive[:, [3, 2]], positive[:, [1, 2]]], 1)
        picture = visualize.draw_quads(picture, anchor_quads, [visualize.ANCHOR_COLOR] * len(anchor_quads), thickness=1)
        colors = [visualize.DONT_CARE_COLOR if d else visualize.CARE_COLOR for d in difficult.numpy()]
        picture = visualize.draw_quads(picture, scaled.numpy(), colors)
        path = os.path.join(FLAGS.output_dir, f"augmented_{int(index):04d}.png")
        visualize.save_png(path, picture)
        written.append(path)
    return written
