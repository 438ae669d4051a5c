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
        image, quads, labels, difficult = _augment_example(example, seed, config.input.augment)
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
