"""The training dataset.

Training: records -> parse -> quad-aware crop -> rotation -> (one size per batch)
resize -> photometric -> pad -> anchor targets -> batch. The size of each
batch is drawn from `sizes` by a seeded stream that is zipped with the examples
before the resize, so every batch has one static size and a tf.function traces
at most once per size.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfdet.anchors.coder import BoxCoder
from tfdet.anchors.config import AnchorConfig
from tfdet.anchors.generator import generate_anchors, generate_anchors_np
from tfdet.anchors.matcher import MatcherConfig, assign, assign_grid
from tfdet.input import augment
from tfdet.input.parser import parse_example
from tfdet.ops import images as image_ops
from tfdet.ops import quads as quad_ops
from tfdet.records.codec import iter_record_files


@dataclasses.dataclass(frozen=True)
class InputConfig:
    sizes: tuple = (512,)
    batch_size: int = 8
    shuffle_buffer: int = 256
    augment: augment.AugmentConfig = augment.AugmentConfig()
    seed: int = 0
    deterministic: bool = False

    def validate(self, anchor_config: AnchorConfig):
        if not self.sizes:
            raise ValueError("at least one input size is needed")
        for s in self.sizes:
            anchor_config.check_input_size(s, s)
        if self.batch_size < 1:
            raise ValueError("batch size must be positive")


def parse_sizes(text: str) -> tuple:
    """'608-960:32' -> (608, 640, ..., 960); '768' or '608,768' as lists."""
    text = str(text).strip()
    if "-" in text:
        span, _, step = text.partition(":")
        lo, hi = (int(v) for v in span.split("-"))
        return tuple(range(lo, hi + 1, int(step or 32)))
    return tuple(int(v) for v in text.split(",") if v.strip())


def build_targets(quads, labels, difficult, anchors, matcher: MatcherConfig, coder: BoxCoder,
                  anchor_config: AnchorConfig | None = None, size: int | None = None):
    """Anchor targets of one image: cls_targets [A] int32 (label, 0 background, -1 ignore), and for
    the positive anchors only, box_indices [P] int32 (anchor index, ascending) and box_targets
    [P, L] (their encoded quads). With `anchor_config` and a static `size`, the sparse grid
    matcher is used (much faster)."""
    boxes = quad_ops.quads_to_boxes_yxyx(quads)
    if anchor_config is not None and isinstance(size, int):
        cls_targets, positive, positive_gt = assign_grid(anchor_config, size, size, boxes, labels, difficult, matcher)
        order = tf.argsort(positive)
        positive, positive_gt = tf.gather(positive, order), tf.gather(positive_gt, order)
    else:
        cls_targets, matched = assign(anchors, boxes, labels, difficult, matcher)
        positive = tf.where(cls_targets > 0)[:, 0]
        positive_gt = tf.gather(matched, positive)
    box_targets = coder.encode(tf.gather(quads, positive_gt), tf.gather(anchors, positive))
    return cls_targets, tf.cast(positive, tf.int32), box_targets


def make_targets(image, quads, labels, difficult, size, anchor_config: AnchorConfig, matcher: MatcherConfig, coder: BoxCoder,
                 augment_config: augment.AugmentConfig | None = None, seed=None, anchors=None):
    """Resize one (geometrically augmented) example to `size`, apply photometric changes to the
    resized pixels when `augment_config` asks for them, pad (uint8 [size, size, 3]), and build its
    anchor targets."""
    resized, scale = augment.resize_keep_aspect(image, size)
    quads = quads * scale
    if augment_config is not None and augment_config.photometric:
        resized = augment.photometric(resized, seed, augment_config)
    else:
        resized = augment.to_uint8(resized)
    image = tf.image.pad_to_bounding_box(resized, 0, 0, size, size)
    anchors = generate_anchors(anchor_config, size, size) if anchors is None else anchors
    cls_targets, box_indices, box_targets = build_targets(quads, labels, difficult, anchors, matcher, coder, anchor_config, size)
    return {"image": image, "cls_targets": cls_targets, "box_indices": box_indices, "box_targets": box_targets, "quads": quads}


def _augment_example(example, seed, cfg: augment.AugmentConfig, reference_size: int = 0):
    """Decoding and geometric augmentation at the source resolution (photometric changes come after
    the resize). `example` is parse_example(..., decode=False): the crop is chosen from the header's
    size and only its window is decoded. `reference_size`: the largest training size (crop_zoom's
    windows are measured against it)."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    quads, labels, difficult = example["quads"], example["labels"], example["difficult"]
    if cfg.crop_probability > 0:
        shape = example["shape"]
        window, quads, labels, difficult = augment.sample_crop(shape[0], shape[1], quads, labels, difficult, seeds[0], cfg,
                                                               reference_size)
        image = image_ops.decode_window(example["encoded"], window[1], window[0], window[3], window[2])
    else:
        image = image_ops.decode_rgb(example["encoded"])
    if cfg.rotate_probability > 0:
        image, quads, labels, difficult = augment.random_rotate(image, quads, labels, difficult, seeds[1], cfg)
    if cfg.horizontal_flip:  # a seed of its own: the other draws stay as they were
        image, quads = augment.random_horizontal_flip(image, quads, tf.random.experimental.stateless_fold_in(seed, 3))
    return image, quads, labels, difficult


def _record_dataset(pattern: str, seed: int, deterministic: bool, shuffle_files: bool, input_context=None):
    files = iter_record_files(pattern)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None and input_context.num_input_pipelines > 1 and len(files) >= input_context.num_input_pipelines:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle_files:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return ds.interleave(tf.data.TFRecordDataset, cycle_length=min(8, len(files)), num_parallel_calls=tf.data.AUTOTUNE,
                         deterministic=deterministic)


def train_dataset(pattern: str, cfg: InputConfig, anchor_config: AnchorConfig, matcher: MatcherConfig, coder: BoxCoder,
                  batch_size: int | None = None, input_context=None, start_step: int = 0):
    """Infinite dataset of (images [B, S, S, 3] uint8, targets); the training step casts the
    images on its device (a quarter of the bytes of float32 to batch and to copy to a GPU).

    targets: cls_targets [B, A] int32 (label, 0 background, -1 ignore); box_indices [B, P] int32,
    the positive anchors of each image padded with -1 to the batch's largest count P; box_targets
    [B, P, L] their encoded quads (zeros in the padding). Only positives carry box targets, so a
    batch holds kilobytes of them instead of A x L floats per image.
    """
    cfg.validate(anchor_config)
    batch_size = batch_size or cfg.batch_size
    worker = input_context.input_pipeline_id if input_context is not None else 0
    seed = cfg.seed + 1000003 * start_step + 7919 * worker
    ds = _record_dataset(pattern, seed, cfg.deterministic, True, input_context)
    ds = ds.shuffle(cfg.shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.enumerate()

    def prepare(index, serialized):
        example = parse_example(serialized, decode=False)
        element_seed = tf.stack([tf.cast(seed, tf.int64), index])
        return _augment_example(example, element_seed, cfg.augment, max(cfg.sizes)) + (element_seed,)

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=cfg.deterministic)
    sizes = tf.constant(cfg.sizes, tf.int32)
    size_stream = tf.data.Dataset.random(seed=seed).map(lambda r: tf.gather(sizes, tf.cast(r % len(cfg.sizes), tf.int32)))
    size_stream = size_stream.flat_map(lambda s: tf.data.Dataset.from_tensors(s).repeat(batch_size))
    ds = tf.data.Dataset.zip((ds, size_stream))

    sizes_t = tf.constant(cfg.sizes, tf.int32)
    tables = {s: tf.constant(generate_anchors_np(anchor_config, s, s)) for s in cfg.sizes}

    def finish(example, size):
        image, quads, labels, difficult, element_seed = example
        photometric_seed = tf.random.experimental.stateless_split(element_seed, 3)[2]

        def for_size(s):  # a static size per branch: static shapes and the grid matcher
            def branch():
                out = make_targets(image, quads, labels, difficult, s, anchor_config, matcher, coder, cfg.augment,
                                   photometric_seed, tables[s])
                return out["image"], out["cls_targets"], out["box_indices"], out["box_targets"]
            return branch

        index = tf.argmax(tf.cast(tf.equal(sizes_t, size), tf.int32), output_type=tf.int32)
        image, cls_targets, box_indices, box_targets = tf.switch_case(index, [for_size(s) for s in cfg.sizes])
        return image, {"cls_targets": cls_targets, "box_indices": box_indices, "box_targets": box_targets}

    # with several sizes the order must be kept here (consecutive elements share the batch's size);
    # with one, a slow element (JPEG noise, many words) need not hold back the others
    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=cfg.deterministic or len(cfg.sizes) > 1)
    # images and class targets of one batch share their shape; the positives' lists are padded
    ds = ds.padded_batch(batch_size, drop_remainder=True,
                         padding_values=(tf.constant(0, tf.uint8), {"cls_targets": 0, "box_indices": -1, "box_targets": 0.0}))
    options = tf.data.Options()
    options.deterministic = cfg.deterministic
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
