"""Gallery file: nearest-label ranking, save/load, append keeps earlier entries, mixing embedders refused."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tfdet.recognition.evaluate import classification_metrics
from tfdet.recognition.gallery import Gallery, GalleryError


def make(names, vectors, embedder="e1"):
    v = np.asarray(vectors, np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return Gallery(v, list(names), [f"src{i}" for i in range(len(names))], np.zeros((len(names), 4, 4, 3), np.uint8),
                   {"embedder": embedder})


def test_rank_by_nearest_entry_of_each_label():
    g = make(["a", "a", "b", "c"], [[1, 0], [0, 1], [1, 1], [-1, 0]])
    ranked, scores, nearest = g.rank(np.array([[0.0, 1.0], [1.0, 0.05]]), k=3)
    assert ranked[0] == ["a", "b", "c"] and scores[0, 0] == pytest.approx(1.0) and nearest[0] == 1
    assert ranked[1][0] == "a" and nearest[1] == 0


def test_save_load_append(tmp_path):
    path = str(tmp_path / "g.npz")
    first = make(["a", "b"], [[1, 0], [0, 1]])
    first.save(path)
    loaded = Gallery.load(path)
    assert loaded.names == ["a", "b"] and np.allclose(loaded.embeddings, first.embeddings)
    both = loaded.append(make(["c"], [[1, 1]]))
    assert both.names == ["a", "b", "c"] and np.allclose(both.embeddings[:2], first.embeddings)
    with pytest.raises(GalleryError, match="embedder"):
        loaded.append(make(["d"], [[1, 1]], embedder="other"))
    with pytest.raises(GalleryError, match="not found"):
        Gallery.load(str(tmp_path / "missing.npz"))
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(GalleryError, match="not a tfdet gallery"):
        Gallery.load(str(tmp_path / "bad.npz"))


def test_metrics_golden():
    m = classification_metrics(["a", "a", "b", "c"], [["a", "b"], ["b", "a"], ["b", "c"], ["a", "c"]])
    assert m["top1"] == 0.5 and m["top5"] == 1.0
    # a: P 1/2 R 1/2 F1 1/2; b: P 1/2 R 1 F1 2/3; c: 0
    assert m["macro_precision"] == pytest.approx(1 / 3) and m["macro_recall"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((0.5 * 2 + 2 / 3) / 4)
    assert m["most_confused"][0]["count"] == 1 and len(m["most_confused"]) == 2


def test_build_gallery_tool_append_keeps_entries(tmp_path, tiny_embedder):
    import cv2

    def folder(root, labels):
        for i, label in enumerate(labels):
            os.makedirs(root / label, exist_ok=True)
            cv2.imwrite(str(root / label / "0.png"), np.full((24, 16, 3), (40 * i, 200, 90), np.uint8))
        return str(root)

    out = str(tmp_path / "gallery.npz")
    tool = [sys.executable, os.path.join(REPO, "tools", "build_gallery.py"), f"--embedder={tiny_embedder}", f"--output={out}",
            "--noprogress"]
    first = subprocess.run(tool + [f"--image_dir={folder(tmp_path / 'a', ['apple', 'pear'])}"], capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    before = Gallery.load(out)
    second = subprocess.run(tool + [f"--image_dir={folder(tmp_path / 'b', ['plum'])}", "--append"], capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    after = Gallery.load(out)
    assert json.loads(second.stdout.strip().splitlines()[-1])["entries"] == 3
    assert after.names == ["apple", "pear", "plum"] and np.allclose(after.embeddings[:2], before.embeddings)
    both = subprocess.run(tool + [f"--image_dir={tmp_path}", f"--records={tmp_path}/*"], capture_output=True, text=True, timeout=300)
    assert both.returncode == 2 and "exactly one of" in both.stderr
