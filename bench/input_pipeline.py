"""Training input pipeline at 768 (crop, photometric augmentation, resize, anchor targets) as a
ratio to the floor measured in the same run: read + the same decode work (the crop window chosen
from the JPEG header and only its window decoded with the pipeline's crop probability, the whole
image otherwise) + resize only (to uint8 [768, 768, 3], as the training pipeline delivers), in any
order as the single-size pipeline delivers. The previous floor (every JPEG decoded whole) is timed
too, for comparison.
Records of 1280x720 JPEGs. Also prints the training steps per second this would feed at batch 8."""

import os
import shutil
import sys
import tempfile

import tensorflow as tf

from tfdet.anchors.coder import BoxCoder
from tfdet.anchors.config import AnchorConfig
from tfdet.anchors.matcher import MatcherConfig
from tfdet.benchmark import best_rate, report
from tfdet.datasets import get_reader
from tfdet.datasets.synthetic import SyntheticConfig
from tfdet.input.augment import resize_and_pad, sample_crop, to_uint8
from tfdet.input.parser import parse_example
from tfdet.input.pipeline import InputConfig, train_dataset
from tfdet.ops.images import decode_window
from tfdet.records import writer

SIZE, BATCH, BATCHES, ROUNDS = 768, 8, 20, 3


def main():
    root = tempfile.mkdtemp(prefix="tfdet_bench_input_")
    try:
        cfg = SyntheticConfig(min_width=1280, max_width=1280, min_height=720, max_height=720, min_text_height=12, max_text_height=90)
        writer.convert(get_reader("synthetic", num_images=96, seed=0, config=cfg), root, num_shards=4, num_workers=2, progress=False)
        pattern = os.path.join(root, "*.tfrecord")
        anchors = AnchorConfig.for_levels(3, 7)

        config = InputConfig(sizes=(SIZE,), batch_size=BATCH)
        crop = config.augment  # the pipeline's crop settings (probability 0.8 by default)

        def floor_ds():
            ds = tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)).repeat().enumerate()

            def decode(index, raw):  # the pipeline's decode work: a crop window 80% of the time, else the whole image
                example = parse_example(raw, decode=False)
                shape = example["shape"]
                seed = tf.stack([tf.constant(0, tf.int64), index])
                window = sample_crop(shape[0], shape[1], example["quads"], example["labels"], example["difficult"], seed, crop)[0]
                image = decode_window(example["encoded"], window[1], window[0], window[3], window[2])
                return to_uint8(resize_and_pad(image, SIZE)[0])  # what the training pipeline delivers

            return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).batch(BATCH).prefetch(tf.data.AUTOTUNE)

        def full_decode_ds():  # the previous floor (every JPEG decoded whole), shown for comparison only
            ds = tf.data.TFRecordDataset(tf.io.gfile.glob(pattern)).repeat()

            def decode(raw):
                image = tf.io.decode_jpeg(parse_example(raw, decode=False)["encoded"], channels=3)
                return to_uint8(resize_and_pad(image, SIZE)[0])

            return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).batch(BATCH).prefetch(tf.data.AUTOTUNE)

        full = train_dataset(pattern, config, anchors, MatcherConfig(), BoxCoder())

        # rounds alternate between the two so that a slow spell of the machine hits both
        iterators = {"floor": iter(floor_ds()), "ours": iter(full), "full_decode": iter(full_decode_ds())}
        best = {}
        for _ in range(ROUNDS):
            for name, it in iterators.items():
                for _ in range(4):  # warm up; drain what was prefetched during the other's turn
                    next(it)
                best[name] = max(best.get(name, 0.0), best_rate(lambda it=it: [next(it) for _ in range(BATCHES)], BATCHES * BATCH, 1))
        floor, ours = best["floor"], best["ours"]
        print(f"floor {floor:.1f} img/s; full pipeline {ours:.1f} img/s; full-decode floor {best['full_decode']:.1f} img/s",
              file=sys.stderr)
        report({"bench": "input_pipeline", "size": SIZE, "anchors": anchors.num_anchors(SIZE, SIZE),
                "floor_images_per_second": round(floor, 2), "pipeline_images_per_second": round(ours, 2),
                "full_decode_floor_images_per_second": round(best["full_decode"], 2),
                "steps_per_second_at_batch_8": round(ours / 8, 3), "goal": 0.6, "ratio": round(ours / floor, 4)})
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
