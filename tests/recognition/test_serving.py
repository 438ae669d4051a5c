"""Detector + recogniser SavedModel: gallery swap by re-export, fresh process, saved_model_cli, C++ loader."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import write_jpeg
from tests.recognition.conftest import colour_crops

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _gallery(embedder_dir, path, names):
    from tfdet.recognition.gallery import Gallery, embedder_fingerprint
    from tfdet.recognition.model import embed
    from tfdet.recognition.train import load_embedder

    model, config, ckpt = load_embedder(embedder_dir)
    crops = colour_crops(labels=len(names), per_label=1, seed=9)
    meta = {"embedder": embedder_fingerprint(config, ckpt), "crop_size": 32, "crop_margin": 0.1, "embedding_size": 8}
    Gallery(embed(model, crops.images), list(names), crops.sources, crops.images, meta).save(path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_embedder):
    from tfdet.benchmark import make_untrained_run
    from tfdet.postprocess import PostprocessConfig
    from tfdet.serving.recognition import export_recognizer

    root = tmp_path_factory.mktemp("recognizer")
    run = make_untrained_run(str(root / "detector"))
    post = PostprocessConfig(score_threshold=0.0, max_detections=12)
    first = _gallery(tiny_embedder, str(root / "a.npz"), ["apple", "pear", "plum"])
    second = _gallery(tiny_embedder, str(root / "b.npz"), ["kiwi", "lime"])
    paths = [export_recognizer(run, tiny_embedder, g, str(root / "export" / "shop"), post=post) for g in (first, second)]
    image = write_jpeg(str(root / "image.jpg"), 300, 180, seed=4)
    return {"paths": paths, "image": image, "run": run, "embedder": tiny_embedder, "root": root, "post": post}


def test_gallery_swap_changes_labels_not_weights(exported):
    readers = [tf.train.load_checkpoint(os.path.join(p, "variables", "variables")) for p in exported["paths"]]
    names = [{n for n, _ in tf.train.list_variables(os.path.join(p, "variables", "variables"))} for p in exported["paths"]]
    assert names[0] == names[1]
    weights = [n for n in names[0] if "gallery" not in n and not n.startswith("_CHECKPOINTABLE")]
    gallery = [n for n in names[0] if "gallery" in n]
    assert len(weights) > 10 and len(gallery) == 2
    assert all(np.array_equal(readers[0].get_tensor(n), readers[1].get_tensor(n)) for n in weights)
    assert readers[0].get_tensor(gallery[0]).shape != readers[1].get_tensor(gallery[0]).shape  # 3 vs 2 entries
    a, b = (tf.saved_model.load(p) for p in exported["paths"])
    data = tf.constant([open(exported["image"], "rb").read()])
    out_a, out_b = a.signatures["serving_default"](images=data), b.signatures["serving_default"](images=data)
    n = int(out_a["num_detections"][0])
    assert n > 0 and n == int(out_b["num_detections"][0])
    for key in ("detection_boxes", "detection_scores", "detection_embeddings"):
        np.testing.assert_allclose(out_a[key].numpy(), out_b[key].numpy(), atol=1e-6)
    labels_a = {v.decode() for v in out_a["detection_labels"][0, :n].numpy()}
    labels_b = {v.decode() for v in out_b["detection_labels"][0, :n].numpy()}
    assert labels_a <= {"apple", "pear", "plum"} and labels_b <= {"kiwi", "lime"}
    assert {v.decode() for v in out_a["detection_labels"][0, n:].numpy()} <= {""}
    emb = out_a["detection_embeddings"][0].numpy()
    assert np.allclose(np.linalg.norm(emb[:n], axis=1), 1.0, atol=1e-4) and not emb[n:].any()
    scores = out_a["detection_label_scores"][0, :n].numpy()
    assert (scores <= 1.0 + 1e-5).all() and (scores >= -1.0 - 1e-5).all()


def test_embedding_of_a_detection_equals_serving_embed_of_its_crop(exported):
    """Both signatures crop with the training crop function: a detection's embedding is the embedding
    of that region sent as a crop."""
    from tfdet.recognition.crops import crop_boxes

    loaded = tf.saved_model.load(exported["paths"][0])
    data = open(exported["image"], "rb").read()
    out = loaded.signatures["serving_default"](images=tf.constant([data]))
    box = out["detection_boxes"][0, 0].numpy()
    pixels = tf.io.decode_jpeg(data)
    crop = crop_boxes(pixels, box[None], 32, 0.1)[0]
    png = tf.io.encode_png(tf.saturate_cast(tf.round(crop), tf.uint8))
    embedded = loaded.signatures["serving_embed"](images=tf.stack([png]))
    similarity = float(np.dot(embedded["embeddings"][0].numpy(), out["detection_embeddings"][0, 0].numpy()))
    assert similarity > 0.99
    empty = loaded.signatures["serving_default"](images=tf.zeros([0], tf.string))
    assert empty["detection_labels"].shape == (0, 12) and empty["detection_embeddings"].shape == (0, 12, 8)


def test_fresh_process_without_tfdet(exported):
    code = f"""
import json, sys
import tensorflow as tf
m = tf.saved_model.load({exported['paths'][0]!r})
data = open({exported['image']!r}, 'rb').read()
out = m.signatures['serving_default'](images=tf.constant([data, data]))
emb = m.signatures['serving_embed'](images=tf.constant([data]))
ex = tf.train.Example(features=tf.train.Features(feature={{'image/encoded': tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}}))
out2 = m.signatures['serving_tf_example'](examples=tf.constant([ex.SerializeToString()]))
assert 'tfdet' not in sys.modules
print(json.dumps({{'signatures': sorted(m.signatures), 'labels': list(out['detection_labels'].shape), 'emb': list(emb['embeddings'].shape),
                   'label': emb['labels'][0].numpy().decode(), 'same': out2['detection_labels'][0, 0].numpy().decode() == out['detection_labels'][0, 0].numpy().decode()}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=QUIET, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["signatures"] == ["serving_default", "serving_embed", "serving_image_tensor", "serving_tf_example"]
    assert result["labels"] == [2, 12] and result["emb"] == [1, 8] and result["label"] in {"apple", "pear", "plum"}
    assert result["same"]


def test_saved_model_cli_and_cpp_loader(exported, tmp_path):
    import cv2

    path = exported["paths"][0]
    np.save(tmp_path / "x.npy", cv2.imread(exported["image"])[..., ::-1][None].astype(np.uint8))
    cli = shutil.which("saved_model_cli") or os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    proc = subprocess.run([cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def", "serving_image_tensor",
                           "--inputs", f"images={tmp_path / 'x.npy'}"], capture_output=True, text=True, timeout=300, env=QUIET)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "detection_labels" in proc.stdout and "Could not find variable" not in proc.stderr
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    from tfdet.serving import cpp

    binary = cpp.build(str(tmp_path / "check_saved_model"))
    run = subprocess.run([binary, path, exported["image"]], capture_output=True, text=True, timeout=300, env=QUIET)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["quads_shape"] == [1, 12, 8]


def test_gallery_of_another_embedder_is_refused(exported, tmp_path):
    from tfdet.recognition.gallery import Gallery, GalleryError
    from tfdet.serving.recognition import export_recognizer

    g = Gallery.load(str(exported["root"] / "a.npz"))
    g.meta["embedder"] = "another"
    g.save(str(tmp_path / "other.npz"))
    with pytest.raises(GalleryError, match="another embedder"):
        export_recognizer(exported["run"], exported["embedder"], str(tmp_path / "other.npz"), str(tmp_path / "x"))
