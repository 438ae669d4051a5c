"""Anchor assignment: IoU >= positive threshold, < negative threshold, ignore band, forced
best anchor per ground truth, and don't-care regions ignored rather than negative."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tfdet.anchors.generator import anchor_shapes
from tfdet.ops import quads as quad_ops

IGNORE = -1
BACKGROUND = 0


@dataclasses.dataclass(frozen=True)
class MatcherConfig:
    positive_iou: float = 0.5
    negative_iou: float = 0.4
    dont_care_overlap: float = 0.5  # intersection over anchor area
    force_match: bool = True

    def __post_init__(self):
        if not 0 < self.negative_iou <= self.positive_iou <= 1:
            raise ValueError(f"need 0 < negative_iou <= positive_iou <= 1, got {self.negative_iou}, {self.positive_iou}")


def assign(anchors, gt_boxes, gt_labels, gt_difficult, config: MatcherConfig = MatcherConfig()):
    """Assign ground truth to anchors (one image).

    anchors [A, 4], gt_boxes [N, 4] yxyx, gt_labels [N] (1-based), gt_difficult [N] bool.
    Returns (cls_targets [A] int32: label, 0 background, -1 ignore; matched_gt [A] int32).
    """
    gt_difficult = tf.cast(gt_difficult, tf.bool)
    care = tf.logical_not(gt_difficult)
    num_anchors = tf.shape(anchors)[0]
    num_gt = tf.shape(gt_boxes)[0]

    def with_gt():
        iou, ioa = quad_ops.box_iou_and_ioa_yxyx(anchors, gt_boxes)  # [A, N] each
        iou = tf.where(care[None, :], iou, -tf.ones_like(iou))
        best_iou = tf.reduce_max(iou, axis=1)
        best_gt = tf.argmax(iou, axis=1, output_type=tf.int32)
        labels = tf.gather(tf.cast(gt_labels, tf.int32), best_gt)
        cls = tf.where(best_iou >= config.positive_iou, labels,
                       tf.where(best_iou < config.negative_iou, tf.zeros_like(labels), tf.fill(tf.shape(labels), IGNORE)))
        matched = best_gt
        if config.force_match:
            # each care ground truth gets its best anchor (ties: the first), if it overlaps at all
            gt_best_anchor = tf.argmax(iou, axis=0, output_type=tf.int32)  # [N]
            gt_best_iou = tf.reduce_max(iou, axis=0)
            ok = care & (gt_best_iou > 0)
            idx = tf.boolean_mask(gt_best_anchor, ok)
            gt_idx = tf.boolean_mask(tf.range(num_gt, dtype=tf.int32), ok)
            cls = tf.tensor_scatter_nd_update(cls, idx[:, None], tf.gather(tf.cast(gt_labels, tf.int32), gt_idx))
            matched = tf.tensor_scatter_nd_update(matched, idx[:, None], gt_idx)
        # don't-care regions: anchors mostly inside one are ignored unless positive
        def ignore_dont_care():
            dc_ioa = tf.where(gt_difficult[None, :], ioa, tf.zeros_like(ioa))
            over_dc = tf.reduce_max(dc_ioa, axis=1) > config.dont_care_overlap
            return tf.where(over_dc & (cls <= 0), tf.fill(tf.shape(cls), IGNORE), cls)

        cls = tf.cond(tf.reduce_any(gt_difficult), ignore_dont_care, lambda: cls)
        return cls, matched

    def without_gt():
        return tf.zeros([num_anchors], tf.int32), tf.zeros([num_anchors], tf.int32)

    return tf.cond(num_gt > 0, with_gt, without_gt)


_KEY_SHIFT = 32
_KEY_LOW = (1 << 32) - 1


def _shape_table(anchor_config, height: int, width: int):
    """One row per (level, anchor shape): grid size, where its anchors start in the flat order
    (level, y, x, scale, ratio), stride and shape, as int64 / float32 constants."""
    rows, offset = [], 0
    for level, shapes in zip(anchor_config.levels, anchor_shapes(anchor_config)):
        stride = 2 ** level
        fh, fw, k = height // stride, width // stride, len(shapes)
        for j, (w, h) in enumerate(shapes):
            rows.append((stride, fh, fw, k, offset + j, w, h))
        offset += fh * fw * k
    t = np.asarray(rows, np.float64)
    ints = {name: tf.constant(t[:, i].astype(np.int64)) for i, name in ((1, "fh"), (2, "fw"), (3, "k"), (4, "first"))}
    floats = {"w": tf.constant(t[:, 5].astype(np.float32)), "h": tf.constant(t[:, 6].astype(np.float32)),
              "stride_f": tf.constant(t[:, 0].astype(np.float32))}
    return {**ints, **floats}


def _window(center, half, stride_f, cells):
    """First and last cell (int64, inclusive, clipped) whose centre (i + 0.5) * stride lies within
    `half` of `center`; one cell wider on each side than needed, never narrower."""
    lo = tf.floor((center - half) / stride_f - 0.5)
    hi = tf.math.ceil((center + half) / stride_f - 0.5)
    last = tf.cast(cells - 1, tf.float32)
    return (tf.cast(tf.clip_by_value(lo, 0.0, last), tf.int64), tf.cast(tf.clip_by_value(hi, 0.0, last), tf.int64),
            (hi >= 0.0) & (lo <= last))


def _nearest_cells(center, stride_f, cells):
    """The two cells whose centres are nearest to `center` (clipped): the best overlap of an
    anchor shape with a box lies at one of them (overlap falls off with the centre distance)."""
    first = tf.floor(center / stride_f - 0.5)
    last = tf.cast(cells - 1, tf.float32)
    return (tf.cast(tf.clip_by_value(first, 0.0, last), tf.int64), tf.cast(tf.clip_by_value(first + 1.0, 0.0, last), tf.int64))


def _grid_candidates(table, boxes, need_area, nearest=None):
    """Candidate (box, anchor) pairs of the grid anchors and their overlap.

    For a box and an anchor shape, an overlap `inter >= need_area` needs the rows (columns) to
    overlap by at least need_area / min(widths) (heights), which bounds the centre distance; only
    anchors inside that window are enumerated. `nearest` ([N, 1] bool) adds, for those boxes, the
    2x2 anchors nearest the box centre for every shape, so the box's best anchor overall is always
    a candidate.
    Returns (box index [M], anchor index [M] int64, intersection [M], anchor area [M], box area [M]).
    """
    ymin, xmin, ymax, xmax = (boxes[:, i][:, None] for i in range(4))  # [N, 1]
    gh, gw = ymax - ymin, xmax - xmin
    cy, cx = (ymin + ymax) / 2.0, (xmin + xmax) / 2.0
    w, h, stride_f = table["w"][None], table["h"][None], table["stride_f"][None]  # [1, S]
    need_h = need_area / tf.maximum(tf.minimum(w, gw), 1e-9)
    need_w = need_area / tf.maximum(tf.minimum(h, gh), 1e-9)
    possible = (need_h <= tf.minimum(h, gh)) & (need_w <= tf.minimum(w, gw)) & (gh > 0) & (gw > 0)
    r0, r1, row_ok = _window(cy, (h + gh) / 2.0 - need_h, stride_f, table["fh"][None])
    c0, c1, col_ok = _window(cx, (w + gw) / 2.0 - need_w, stride_f, table["fw"][None])
    possible &= row_ok & col_ok
    if nearest is not None:
        n0, n1 = _nearest_cells(cy, stride_f, table["fh"][None])
        m0, m1 = _nearest_cells(cx, stride_f, table["fw"][None])
        grow, only = nearest & possible, nearest & tf.logical_not(possible)
        r0 = tf.where(grow, tf.minimum(r0, n0), tf.where(only, n0, r0))
        r1 = tf.where(grow, tf.maximum(r1, n1), tf.where(only, n1, r1))
        c0 = tf.where(grow, tf.minimum(c0, m0), tf.where(only, m0, c0))
        c1 = tf.where(grow, tf.maximum(c1, m1), tf.where(only, m1, c1))
        possible |= nearest
    rows, cols = r1 - r0 + 1, c1 - c0 + 1
    counts = tf.reshape(tf.where(possible, rows * cols, 0), [-1])  # [N * S]
    group = tf.repeat(tf.range(tf.size(counts, out_type=tf.int64)), counts)
    local = tf.range(tf.reduce_sum(counts)) - tf.gather(tf.cumsum(counts, exclusive=True), group)
    num_shapes = tf.shape(table["w"], out_type=tf.int64)[0]
    box, shape = group // num_shapes, group % num_shapes
    width_g = tf.gather(tf.reshape(cols, [-1]), group)
    row = tf.gather(tf.reshape(r0, [-1]), group) + local // width_g
    col = tf.gather(tf.reshape(c0, [-1]), group) + local % width_g
    anchor = (tf.gather(table["first"], shape)
              + (row * tf.gather(table["fw"], shape) + col) * tf.gather(table["k"], shape))
    stride = tf.gather(table["stride_f"], shape)
    aw, ah = tf.gather(table["w"], shape), tf.gather(table["h"], shape)
    ay = (tf.cast(row, tf.float32) + 0.5) * stride
    ax = (tf.cast(col, tf.float32) + 0.5) * stride
    b = tf.gather(boxes, box)
    ih = tf.maximum(tf.minimum(b[:, 2], ay + ah / 2) - tf.maximum(b[:, 0], ay - ah / 2), 0.0)
    iw = tf.maximum(tf.minimum(b[:, 3], ax + aw / 2) - tf.maximum(b[:, 1], ax - aw / 2), 0.0)
    return box, anchor, ih * iw, aw * ah, (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _pack(value, index):
    """Non-negative float32 value and int64 index -> int64 key whose maximum is the largest value,
    ties to the smallest index (the float bits of a non-negative float order like the floats)."""
    bits = tf.cast(tf.bitcast(tf.maximum(value, 0.0), tf.int32), tf.int64)
    return tf.bitwise.left_shift(bits, _KEY_SHIFT) + (_KEY_LOW - index)


def _unpack(key):
    value = tf.bitcast(tf.cast(tf.bitwise.right_shift(key, _KEY_SHIFT), tf.int32), tf.float32)
    return value, _KEY_LOW - tf.bitwise.bitwise_and(key, _KEY_LOW)


def assign_grid(anchor_config, height: int, width: int, gt_boxes, gt_labels, gt_difficult,
                config: MatcherConfig = MatcherConfig()):
    """`assign` for the anchors of `generate_anchors(anchor_config, height, width)`, sparse.

    Only anchors near enough to a box to matter get an overlap: for a care box, those that may
    reach the negative IoU threshold (plus its nearest anchors, for the forced match); for a
    don't-care box, those it may cover by more than dont_care_overlap. Every other anchor is
    background. Returns (cls_targets [A] int32 as `assign`, positive anchor indices [P] int64,
    their ground truth [P] int32). Same classes as `assign`, except that when several anchors tie
    for a box's best IoU the forced match may pick another of them (`assign` takes the first in
    anchor order).
    """
    table = _shape_table(anchor_config, height, width)
    boxes = tf.reshape(tf.convert_to_tensor(gt_boxes, tf.float32), [-1, 4])
    gt_labels = tf.cast(gt_labels, tf.int32)
    care = tf.logical_not(tf.cast(gt_difficult, tf.bool))
    num_boxes = tf.shape(boxes, out_type=tf.int64)[0]
    anchor_areas = table["w"][None] * table["h"][None]  # [1, S]
    box_areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    # IoU >= t needs inter >= t * max(areas); covering more than d of an anchor needs inter > d * its area
    need = tf.where(care[:, None], config.negative_iou * tf.maximum(anchor_areas, box_areas[:, None]),
                    config.dont_care_overlap * anchor_areas)
    nearest = (care & config.force_match)[:, None]
    box, anchor, inter, anchor_area, box_area = _grid_candidates(table, boxes, need, nearest)
    care_pair = tf.gather(care, box)
    iou = inter / tf.maximum(anchor_area + box_area - inter, 1e-9)
    iou_key = tf.where(care_pair, _pack(iou, box), -1)  # don't-care pairs never win
    # per distinct candidate anchor: its best care box, and whether a don't-care box covers it
    unique_anchor, segment = tf.unique(anchor, out_idx=tf.int64)
    num_unique = tf.shape(unique_anchor, out_type=tf.int64)[0]
    best_key = tf.math.unsorted_segment_max(iou_key, segment, num_unique)
    best_iou, best_box = _unpack(tf.maximum(best_key, 0))
    best_iou = tf.where(best_key >= 0, best_iou, 0.0)
    best_box = tf.cast(tf.where(best_key >= 0, best_box, 0), tf.int32)
    covered = tf.logical_not(care_pair) & (inter / anchor_area > config.dont_care_overlap)
    dont_care = tf.math.unsorted_segment_max(tf.cast(covered, tf.int32), segment, num_unique) > 0
    positive = best_iou >= config.positive_iou
    if config.force_match:
        # the best anchor of every care box with any overlap is positive for it, whatever its IoU
        anchor_key = tf.where(care_pair, _pack(iou, anchor), -1)
        box_key = tf.math.unsorted_segment_max(anchor_key, box, num_boxes)
        forced = tf.equal(anchor_key, tf.gather(box_key, box)) & care_pair & (iou > 0)
        forced_box = tf.math.unsorted_segment_max(tf.where(forced, box, -1), segment, num_unique)
        best_box = tf.where(forced_box >= 0, tf.cast(forced_box, tf.int32), best_box)
        positive |= forced_box >= 0
    labels = tf.gather(tf.concat([gt_labels, [0]], 0), best_box)
    # background 0, ignore -1 (IoU band, or covered by don't care), positive: the label
    cls_unique = tf.where(positive, labels, tf.where((best_iou >= config.negative_iou) | dont_care, IGNORE, 0))
    cls = tf.scatter_nd(unique_anchor[:, None], cls_unique, [anchor_config.num_anchors(height, width)])
    return cls, tf.boolean_mask(unique_anchor, positive), tf.boolean_mask(best_box, positive)
