"""Encoded images in core TF ops: format from the magic bytes, size from the header (no
decoding), and decoding of a window only (JPEG: in the decoder, other formats: decode + crop)."""

from __future__ import annotations

import tensorflow as tf


def is_jpeg(data):
    return tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff")


def is_png(data):
    return tf.equal(tf.strings.substr(data, 0, 8), b"\x89PNG\r\n\x1a\n")


def png_header_shape(data):
    """(height, width) int64 from a PNG's IHDR chunk."""
    header = tf.cast(tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.uint8), tf.int64)
    width = header[0] * 16777216 + header[1] * 65536 + header[2] * 256 + header[3]
    height = header[4] * 16777216 + header[5] * 65536 + header[6] * 256 + header[7]
    return height, width


def decode_rgb(data):
    """Any supported encoded image -> uint8 [h, w, 3] (first frame of an animation)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def encoded_shape(data):
    """[height, width] int32 of an encoded image: JPEG and PNG from the header, others decoded."""
    def jpeg():
        return tf.image.extract_jpeg_shape(data)[:2]

    def png():
        return tf.cast(tf.stack(png_header_shape(data)), tf.int32)

    return tf.case([(is_jpeg(data), jpeg), (is_png(data), png)], default=lambda: tf.shape(decode_rgb(data))[:2],
                   exclusive=False)


def decode_window(data, y0, x0, height, width):
    """The window [y0, y0 + height) x [x0, x0 + width) of an encoded image as uint8 [height, width, 3]:
    a JPEG decodes only the window's blocks."""
    window = tf.cast(tf.stack([y0, x0, height, width]), tf.int32)

    def jpeg():
        return tf.image.decode_and_crop_jpeg(data, window, channels=3)

    def other():
        return tf.image.crop_to_bounding_box(decode_rgb(data), window[0], window[1], window[2], window[3])

    image = tf.cond(is_jpeg(data), jpeg, other)
    image.set_shape([None, None, 3])
    return image
