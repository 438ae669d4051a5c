"""The synthetic product-shelf generator: deterministic COCO output, sane boxes, distinct identities."""

import hashlib
import json
import os

import numpy as np

from tfdet.datasets import shelves


def _digest(folder):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            h.update(name.encode())
            h.update(open(os.path.join(root, name), "rb").read())
    return h.hexdigest()


def test_deterministic_per_seed(tmp_path):
    catalog = shelves.make_catalog(12, catalog_seed=3)
    shelves.write_coco(str(tmp_path / "a"), 2, seed=5, catalog=catalog, height=128, width=160)
    shelves.write_coco(str(tmp_path / "b"), 2, seed=5, catalog=catalog, height=128, width=160)
    shelves.write_coco(str(tmp_path / "c"), 2, seed=6, catalog=catalog, height=128, width=160)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
    assert shelves.make_catalog(12, 3) == catalog and shelves.make_catalog(12, 4) != catalog


def test_coco_layout_and_boxes(tmp_path):
    catalog = shelves.make_catalog(20)
    path = shelves.write_coco(str(tmp_path), 3, seed=1, catalog=catalog, identities=[2, 5, 7], height=128, width=192)
    data = json.load(open(path))
    assert [c["id"] for c in data["categories"]] == list(range(1, 21))  # the whole catalog: splits share label numbers
    assert len(data["images"]) == 3 and len(data["annotations"]) >= 6
    assert {a["category_id"] for a in data["annotations"]} <= {3, 6, 8}
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        assert w >= 6 and h >= 6 and x >= 0 and y >= 0 and x + w <= 192 and y + h <= 128
    for image in data["images"]:
        assert os.path.exists(tmp_path / "images" / image["file_name"])


def test_identities_look_different():
    catalog = shelves.make_catalog(40)
    signatures = {(p.shape, p.pattern, p.logo, p.base, p.brand) for p in catalog}
    assert len(signatures) == 40 and len({p.name for p in catalog}) == 40
    a, b = shelves.render_front(catalog[0]), shelves.render_front(catalog[1])
    assert a.shape[2] == 4 and a.shape[0] == shelves.CANVAS_HEIGHT
    # two views of one product differ (lighting, perspective) but stay closer than another product
    rng = np.random.default_rng(0)
    import cv2

    def small(rgba):
        return cv2.resize(rgba[..., :3], (16, 32), interpolation=cv2.INTER_AREA).astype(np.float32)

    v1, v2 = small(shelves.render_view(catalog[0], 80, rng)), small(shelves.render_view(catalog[0], 80, rng))
    other = small(shelves.render_view(catalog[1], 80, rng))
    assert np.abs(v1 - v2).mean() > 0 and np.abs(v1 - v2).mean() < np.abs(v1 - other).mean()


def test_references_folder_per_product(tmp_path):
    catalog = shelves.make_catalog(5)
    written = shelves.write_references(str(tmp_path), catalog, identities=[0, 4], views=2, size=64)
    assert sorted(os.listdir(tmp_path)) == sorted([catalog[0].name, catalog[4].name]) and len(written) == 4
