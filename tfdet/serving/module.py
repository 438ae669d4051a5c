"""DetectorModule: the whole detector as a tf.Module, used by export *and* by evaluation of
checkpoints, so both run the same graph.

Inputs are images as sent by a client; outputs are in pixels of those images
(DESIGN.md, "Serving contract"). Each image is resized so that its longer side is `size`; the
network then runs on the smallest canvas that holds the batch's resized images and is a multiple
of the largest anchor stride (a 1280x720 photograph at size 1280 runs at 1280x768 with P6, not
1280x1280), and the anchors are generated for that canvas in the graph. Huge images are bounded: JPEGs are decoded
at 1/2, 1/4 or 1/8 scale in the DCT domain when they are much larger than the
network input, and images over `max_pixels` (read from the JPEG, PNG, GIF, BMP
or WebP header, before decoding) are refused with an error status.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfdet import keys
from tfdet.anchors.generator import generate_anchors
from tfdet.input.augment import resize_and_pad
from tfdet.ops import images as image_ops
from tfdet.ops import quads as quad_ops
from tfdet.postprocess import PostprocessConfig, detect_batch

MAX_PIXELS = 100_000_000  # 100 MP


def _check_pixels(h, w, max_pixels):
    """Assertion op refusing images over `max_pixels`; decoders must run under its control dependency
    (an Assert is not ordered before stateless ops otherwise, and the decoder could fail first)."""
    return tf.debugging.assert_less_equal(h * w, tf.constant(max_pixels, h.dtype), message="image has too many pixels")


def decode_bounded(data, size: int, max_pixels: int = MAX_PIXELS):
    """Encoded bytes -> (uint8 image [h, w, 3], original (height, width) float32)."""
    data = tf.convert_to_tensor(data, tf.string)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        h, w = shape[0], shape[1]
        factor = tf.maximum(h, w) // (2 * size)
        branches = [lambda r=r: tf.image.decode_jpeg(data, channels=3, ratio=r) for r in (1, 2, 4, 8)]
        index = tf.cast(tf.minimum(tf.where(factor >= 8, 3, tf.where(factor >= 4, 2, tf.where(factor >= 2, 1, 0))), 3), tf.int32)
        with tf.control_dependencies([_check_pixels(h, w, max_pixels)]):
            image = tf.switch_case(index, branches)
        return image, tf.cast(tf.stack([h, w]), tf.float32)

    def png():
        h, w = image_ops.png_header_shape(data)
        with tf.control_dependencies([_check_pixels(h, w, max_pixels)]):
            image = tf.io.decode_png(data, channels=3)
        return image, tf.cast(tf.stack([h, w]), tf.float32)

    def other():  # GIF, BMP, WebP: refused from their header too
        h, w = image_ops.other_header_shape(data)
        with tf.control_dependencies([_check_pixels(h, w, max_pixels)]):
            image = image_ops.decode_rgb(data)
        return image, tf.cast(tf.shape(image)[:2], tf.float32)

    image, original = tf.case([(image_ops.is_jpeg(data), jpeg), (image_ops.is_png(data), png)], default=other, exclusive=False)
    image = tf.ensure_shape(image, [None, None, 3])
    return image, original


class DetectorModule(tf.Module):
    def __init__(self, model: keras.Model, anchor_config, coder, post_config: PostprocessConfig, size: int,
                 max_pixels: int = MAX_PIXELS):
        super().__init__(name="tfdet_detector")
        anchor_config.check_input_size(size, size)
        self.model = model
        self.size = int(size)
        self.anchor_config = anchor_config
        self.coder = coder
        self.post_config = post_config
        self.max_pixels = int(max_pixels)
        # Track the underlying tf.Variables explicitly: without this the C++ loader (TF Serving,
        # saved_model_cli) cannot find Keras 3 variables held through a tf.Module (keras#20095).
        self.model_variables = [getattr(v, "value", v) for v in model.variables]

    def _prepare_one(self, image, original_hw):
        """uint8 image (maybe DCT-downscaled) + original size -> network image (size x size, the resized
        image at the top left), scale (x, y) original->network, resized (height, width)."""
        padded, scale = resize_and_pad(image, self.size)
        decoded_hw = tf.cast(tf.shape(image)[:2], tf.float32)
        extent = tf.round(decoded_hw * tf.reverse(scale, [0]))
        scale = scale * tf.stack([decoded_hw[1] / original_hw[1], decoded_hw[0] / original_hw[0]])
        return padded, scale, extent

    def _canvas(self, images, extents):
        """The batch cut to the smallest multiple of the largest stride that holds every resized image,
        and the anchors of that canvas."""
        stride = float(self.anchor_config.max_stride)
        hw = tf.cast(tf.math.ceil(tf.reduce_max(extents, axis=0) / stride) * stride, tf.int32)
        return images[:, : hw[0], : hw[1], :], generate_anchors(self.anchor_config, hw[0], hw[1])

    def _run(self, images, scales, originals, extents):
        m = self.post_config.max_detections

        def empty():
            return {keys.OUT_QUADS: tf.zeros([0, m, 8]), keys.OUT_BOXES: tf.zeros([0, m, 4]), keys.OUT_SCORES: tf.zeros([0, m]),
                    keys.OUT_CLASSES: tf.zeros([0, m], tf.int32), keys.OUT_NUM: tf.zeros([0], tf.int32)}

        # an empty request gets an empty answer (convolutions are not defined on empty batches everywhere)
        return tf.cond(tf.shape(images)[0] > 0, lambda: self._detect(images, scales, originals, extents), empty)

    def _detect(self, images, scales, originals, extents):
        images, anchors = self._canvas(images, extents)
        outputs = self.model(images, training=False)
        det = detect_batch(outputs, anchors, self.coder, self.post_config)
        sx = scales[:, 0][:, None, None]
        sy = scales[:, 1][:, None, None]
        w = originals[:, 1][:, None, None]
        h = originals[:, 0][:, None, None]
        quads = det["quads"]
        qx = tf.clip_by_value(quads[..., 0] / sx, 0.0, w)
        qy = tf.clip_by_value(quads[..., 1] / sy, 0.0, h)
        quads = quad_ops.order_quads(tf.stack([qx, qy], -1))  # clipping to the image can flip or cross a quad
        valid = tf.sequence_mask(det["num_detections"], self.post_config.max_detections)
        quads = tf.where(valid[..., None, None], quads, 0.0)
        scale_yxyx = tf.concat([sy, sx, sy, sx], -1)  # [B, 1, 4]
        limit_yxyx = tf.concat([h, w, h, w], -1)
        boxes = tf.minimum(tf.maximum(det["boxes"] / scale_yxyx, 0.0), limit_yxyx)
        boxes = tf.where(valid[..., None], boxes, 0.0)
        batch = tf.shape(quads)[0]
        return {
            keys.OUT_QUADS: tf.reshape(quads, [batch, self.post_config.max_detections, 8]),
            keys.OUT_BOXES: boxes,
            keys.OUT_SCORES: det["scores"],
            keys.OUT_CLASSES: tf.cast(det["classes"], tf.int32),
            keys.OUT_NUM: tf.cast(det["num_detections"], tf.int32),
        }

    def _from_encoded(self, encoded):
        def one(data):
            image, original = decode_bounded(data, self.size, self.max_pixels)
            padded, scale, extent = self._prepare_one(image, original)
            return padded, scale, original, extent

        return self._run(*tf.map_fn(one, encoded, fn_output_signature=self._prepared_signature()))

    def _prepared_signature(self):
        vector = tf.TensorSpec([2], tf.float32)
        return tf.TensorSpec([self.size, self.size, 3], tf.float32), vector, vector, vector

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve_encoded(self, images):
        return self._from_encoded(images)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve_image_tensor(self, images):
        shape = tf.cast(tf.shape(images)[1:3], tf.float32)
        with tf.control_dependencies([_check_pixels(tf.cast(shape[0], tf.int64), tf.cast(shape[1], tf.int64), self.max_pixels)]):
            images = tf.identity(images)

        def one(image):
            padded, scale, extent = self._prepare_one(image, shape)
            return padded, scale, shape, extent

        return self._run(*tf.map_fn(one, images, fn_output_signature=self._prepared_signature()))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_example(self, examples):
        parsed = tf.io.parse_example(examples, {keys.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string)})
        return self._from_encoded(parsed[keys.IMAGE_ENCODED])

    def detect_encoded(self, encoded_list) -> dict:
        """Python helper: list of encoded images -> numpy outputs."""
        out = self.serve_encoded(tf.constant(list(encoded_list), dtype=tf.string))
        return {k: v.numpy() for k, v in out.items()}
