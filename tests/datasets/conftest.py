"""Fixtures of the dataset tests: background photographs for the scene generator."""

import cv2
import numpy as np
import pytest


def gradient_scene(width=320, height=240, seed=0):
    """A smooth two-colour scene with one dark bar: large homogeneous regions, one non-homogeneous band."""
    rng = np.random.default_rng(seed)
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, width)[None, :, None]
    image = (c1 * (1 - t) + c2 * t).repeat(height, axis=0).astype(np.uint8)
    cv2.rectangle(image, (0, height // 2 - 6), (width, height // 2 + 6), (20, 20, 20), -1)
    return image


@pytest.fixture(scope="module")
def background_dir(tmp_path_factory):
    """Three usable backgrounds (RGB JPEG, grayscale PNG, RGBA PNG) and three unusable files."""
    folder = tmp_path_factory.mktemp("backgrounds")
    cv2.imwrite(str(folder / "rgb.jpg"), gradient_scene(seed=1)[..., ::-1])
    cv2.imwrite(str(folder / "gray.png"), cv2.cvtColor(gradient_scene(seed=2), cv2.COLOR_RGB2GRAY))
    rgba = np.dstack([gradient_scene(seed=3), np.full((240, 320), 128, np.uint8)])
    cv2.imwrite(str(folder / "rgba.png"), rgba)
    cv2.imwrite(str(folder / "tiny.png"), np.zeros((20, 30, 3), np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    return str(folder)
