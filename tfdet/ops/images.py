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


def _uint_le(data, offset: int, size: int):
    """Unsigned little-endian integer (int64) of `size` bytes at `offset`."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, size), tf.uint8), tf.int64)
    return tf.reduce_sum(raw * tf.constant([1, 256, 65536, 16777216][:size], tf.int64))


def other_header_shape(data):
    """(height, width) int64 of a GIF (logical screen), BMP or WebP (VP8, VP8L, VP8X) from its
    header, without decoding; (0, 0) for bytes of any other kind (the decoder rejects those)."""
    length = tf.strings.length(data)
    data = tf.strings.join([tf.strings.substr(data, 0, 32), b"\0" * 32])  # the header, zero-padded: every read below is in range
    is_gif = tf.equal(tf.strings.substr(data, 0, 4), b"GIF8")
    is_bmp = tf.equal(tf.strings.substr(data, 0, 2), b"BM")
    is_webp = tf.equal(tf.strings.substr(data, 0, 4), b"RIFF") & tf.equal(tf.strings.substr(data, 8, 4), b"WEBP")
    known = is_gif | is_bmp | is_webp
    # the fields read below end before byte 30; a shorter file of these kinds is truncated
    check = tf.debugging.Assert(tf.logical_not(known) | (length >= 30), ["image header is truncated"])

    def gif():
        return _uint_le(data, 8, 2), _uint_le(data, 6, 2)

    def bmp():
        height = _uint_le(data, 22, 4)
        return tf.where(height >= 2 ** 31, 2 ** 32 - height, height), _uint_le(data, 18, 4)  # < 0: rows top-down

    def webp():
        chunk = tf.strings.substr(data, 12, 4)

        def lossy():
            return tf.bitwise.bitwise_and(_uint_le(data, 28, 2), 0x3FFF), tf.bitwise.bitwise_and(_uint_le(data, 26, 2), 0x3FFF)

        def lossless():
            bits = _uint_le(data, 21, 4)
            return tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 14), 0x3FFF) + 1, tf.bitwise.bitwise_and(bits, 0x3FFF) + 1

        def extended():
            return _uint_le(data, 27, 3) + 1, _uint_le(data, 24, 3) + 1

        return tf.case([(tf.equal(chunk, b"VP8 "), lossy), (tf.equal(chunk, b"VP8L"), lossless)], default=extended,
                       exclusive=False)

    def unknown():
        return tf.constant(0, tf.int64), tf.constant(0, tf.int64)

    with tf.control_dependencies([check]):
        return tf.case([(is_gif, gif), (is_bmp, bmp), (is_webp, webp)], default=unknown, exclusive=False)


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
