"""Encoded-image ops used by the pipeline: header sizes and window decoding."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tfdet.ops import images as image_ops


def _picture(height=90, width=130):
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 10 + 1, width // 10 + 1, 3)).astype(np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)  # smooth: JPEG keeps it well


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp"])
def test_shape_from_header_and_window_decoding(ext):
    picture = _picture()
    data = tf.constant(cv2.imencode(ext, picture)[1].tobytes())
    assert image_ops.encoded_shape(data).numpy().tolist() == [90, 130]
    full = image_ops.decode_rgb(data).numpy()
    window = image_ops.decode_window(data, 17, 33, 40, 61).numpy()
    assert window.shape == (40, 61, 3)
    diff = np.abs(window.astype(int) - full[17:57, 33:94])
    if ext == ".jpg":  # chroma upsampling at the window's own edge may differ a little
        assert diff[1:-1, 1:-1].max() <= 2 and diff.mean() < 0.5
    else:
        assert diff.max() == 0
        np.testing.assert_array_equal(full[..., ::-1], picture)


def test_window_outside_the_image_is_an_error():
    data = tf.constant(cv2.imencode(".jpg", _picture())[1].tobytes())
    with pytest.raises(tf.errors.InvalidArgumentError):
        image_ops.decode_window(data, 80, 0, 40, 10)
