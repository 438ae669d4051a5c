"""TextBoxes++ encoding on RetinaNet anchors: 4 box offsets + 8 quad-vertex offsets.

Box: (dx, dy, dw, dh) as in Faster R-CNN. Quad: each vertex relative to the
anchor's own corner (TL, TR, BR, BL), divided by anchor width / height. All
divided by variances. `loc_outputs=8` keeps the quad offsets only (the box is
then the quad's axis-aligned box on decoding).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfdet.ops import quads as quad_ops


@dataclasses.dataclass(frozen=True)
class BoxCoder:
    loc_outputs: int = 12
    box_variances: tuple = (0.1, 0.1, 0.2, 0.2)
    quad_variance: float = 0.1

    def __post_init__(self):
        if self.loc_outputs not in (8, 12):
            raise ValueError(f"loc_outputs must be 8 or 12, got {self.loc_outputs}")

    @staticmethod
    def _anchor_parts(anchors):
        ymin, xmin, ymax, xmax = tf.unstack(anchors, axis=-1)
        w = tf.maximum(xmax - xmin, 1e-6)
        h = tf.maximum(ymax - ymin, 1e-6)
        corners = tf.stack([tf.stack([xmin, ymin], -1), tf.stack([xmax, ymin], -1),
                            tf.stack([xmax, ymax], -1), tf.stack([xmin, ymax], -1)], axis=-2)
        return xmin + 0.5 * w, ymin + 0.5 * h, w, h, corners

    def encode(self, quads, anchors):
        """quads [..., 4, 2], anchors [..., 4] yxyx -> [..., loc_outputs]."""
        cx, cy, w, h, corners = self._anchor_parts(anchors)
        size = tf.stack([w, h], -1)[..., None, :]
        quad_offsets = (quads - corners) / size / self.quad_variance
        quad_offsets = tf.reshape(quad_offsets, tf.concat([tf.shape(quad_offsets)[:-2], [8]], 0))
        if self.loc_outputs == 8:
            return quad_offsets
        boxes = quad_ops.quads_to_boxes_yxyx(quads)
        gy0, gx0, gy1, gx1 = tf.unstack(boxes, axis=-1)
        gw = tf.maximum(gx1 - gx0, 1e-6)
        gh = tf.maximum(gy1 - gy0, 1e-6)
        v = self.box_variances
        box_offsets = tf.stack([
            ((gx0 + 0.5 * gw) - cx) / w / v[0],
            ((gy0 + 0.5 * gh) - cy) / h / v[1],
            tf.math.log(gw / w) / v[2],
            tf.math.log(gh / h) / v[3],
        ], axis=-1)
        return tf.concat([box_offsets, quad_offsets], axis=-1)

    def decode(self, offsets, anchors):
        """[..., loc_outputs] offsets + anchors -> (quads [..., 4, 2], boxes_yxyx [..., 4])."""
        offsets = tf.cast(offsets, tf.float32)
        cx, cy, w, h, corners = self._anchor_parts(anchors)
        quad_part = offsets[..., -8:]
        quad_part = tf.reshape(quad_part, tf.concat([tf.shape(quad_part)[:-1], [4, 2]], 0))
        size = tf.stack([w, h], -1)[..., None, :]
        quads = corners + quad_part * self.quad_variance * size
        if self.loc_outputs == 8:
            return quads, quad_ops.quads_to_boxes_yxyx(quads)
        v = self.box_variances
        dx, dy, dw, dh = tf.unstack(offsets[..., :4], axis=-1)
        bcx = dx * v[0] * w + cx
        bcy = dy * v[1] * h + cy
        clip = 4.135166556742356  # log(1000 / 16): keep exp() finite
        bw = tf.exp(tf.minimum(dw * v[2], clip)) * w
        bh = tf.exp(tf.minimum(dh * v[3], clip)) * h
        boxes = tf.stack([bcy - 0.5 * bh, bcx - 0.5 * bw, bcy + 0.5 * bh, bcx + 0.5 * bw], axis=-1)
        return quads, boxes
