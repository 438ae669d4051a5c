"""Crops: margin, aspect kept, centred padding (golden pixels), crops of records and of folders."""

import os

import numpy as np
import pytest

from tfdet.recognition.crops import PAD_VALUE, CropSet, crop_boxes, crop_whole, crops_from_folders


def test_aspect_kept_and_centred_padding():
    image = np.zeros((60, 100, 3), np.uint8)
    image[10:30, 20:60] = (200, 50, 10)  # 40 wide, 20 high
    crop = crop_boxes(image, np.array([[10, 20, 30, 60]], np.float32), 32, margin=0.0).numpy()[0]
    # the longer side (40 px) fills 32 px: the box is 16 rows high, centred: rows 8-23, padding above and below
    np.testing.assert_allclose(crop[8:24, :], np.broadcast_to([200, 50, 10], (16, 32, 3)), atol=1)
    assert (crop[:8] == PAD_VALUE).all() and (crop[24:] == PAD_VALUE).all()


def test_margin_and_image_border():
    image = np.full((40, 40, 3), 10, np.uint8)
    # a box touching the left border with a 25 % margin: 5 px of the grown box lie outside the image -> padding
    crop = crop_boxes(image, np.array([[10, 0, 30, 20]], np.float32), 30, margin=0.25).numpy()[0]
    assert (crop[:, :5] == PAD_VALUE).all()  # 30 px crop of a 30 px grown box: 1 px per pixel
    assert (crop[:, 6:] == 10).all()


def test_crop_whole_and_folders(tmp_path):
    import cv2

    for label, color in (("apple", (0, 0, 255)), ("pear", (0, 255, 0))):
        os.makedirs(tmp_path / label)
        cv2.imwrite(str(tmp_path / label / "a.png"), np.full((20, 10, 3), color, np.uint8))
    (tmp_path / "pear" / "broken.jpg").write_bytes(b"not an image")
    crops, problems = crops_from_folders(str(tmp_path), 32)
    assert crops.names == ["apple", "pear"] and crops.images.shape == (2, 32, 32, 3)
    assert crops.images[0, 16, 16].tolist() == [255, 0, 0] and crops.images[0, 16, 0].tolist() == [127, 127, 127]
    assert len(problems) == 1 and "broken.jpg" in problems[0]
    whole = crop_whole(np.zeros((8, 8, 3), np.uint8), 32).numpy()
    assert whole.shape == (32, 32, 3) and (whole == 0).all()
    with pytest.raises(FileNotFoundError):
        crops_from_folders(str(tmp_path / "missing"), 32)


def test_cropset_ids_and_subsets():
    crops = CropSet(np.zeros((4, 32, 32, 3), np.uint8), ["b", "a", "b", "c"], ["1", "2", "3", "4"])
    ids, vocabulary = crops.label_ids()
    assert vocabulary == ["a", "b", "c"] and ids.tolist() == [1, 0, 1, 2]
    assert crops.subset([True, False, True, False]).names == ["b", "b"]
