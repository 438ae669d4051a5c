import os

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import shared_path
from tfdet.anchors.coder import BoxCoder
from tfdet.anchors.config import AnchorConfig
from tfdet.anchors.matcher import MatcherConfig
from tfdet.datasets import get_reader
from tfdet.input import augment
from tfdet.anchors.generator import generate_anchors_np
from tfdet.input.pipeline import InputConfig, build_targets, parse_sizes, train_dataset
from tfdet.ops import quads as quad_ops
from tfdet.records import writer

ANCHORS = AnchorConfig(min_level=3, max_level=5, base_sizes=(16, 32, 64), aspect_ratios=(1, 3), scales_per_octave=1)


@pytest.fixture(scope="module")
def synthetic_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("records")
    writer.convert(get_reader("synthetic", num_images=12, seed=5), str(out), num_shards=2, progress=False)
    return os.path.join(str(out), "*.tfrecord")


def test_parse_sizes():
    assert parse_sizes("608-960:32") == tuple(range(608, 961, 32))
    assert parse_sizes("768") == (768,)
    assert parse_sizes("608,768") == (608, 768)


def _quad_rect(x0, y0, w, h):
    return np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.float32)


def test_crop_keeps_quads_exact_and_marks_cut_ones():
    import cv2

    from tfdet.ops import images as image_ops

    encoded = tf.constant(cv2.imencode(".png", np.zeros([200, 300, 3], np.uint8))[1].tobytes())
    quads = tf.constant(np.stack([_quad_rect(10, 10, 40, 20), _quad_rect(150, 100, 60, 30), _quad_rect(280, 180, 40, 40)]))
    labels = tf.constant([1, 1, 1])
    difficult = tf.constant([False, False, False])
    cfg = augment.AugmentConfig(crop_probability=1.0, crop_min_scale=0.2)

    def crop(quads, labels, difficult, seed, cfg):  # what the pipeline does: choose from the size, decode the window
        window, q, _, dc = augment.sample_crop(200, 300, quads, labels, difficult, seed, cfg)
        img = image_ops.decode_window(encoded, window[1], window[0], window[3], window[2])
        return img, window.numpy(), q, dc

    sizes = set()
    for s in range(20):
        img, window, q, dc = crop(quads, labels, difficult, tf.constant([s, 1], tf.int64), cfg)
        h, w = img.shape[0], img.shape[1]
        sizes.add((h, w))
        q = q.numpy()
        assert q[..., 0].min() >= 0 and q[..., 0].max() <= w and q[..., 1].min() >= 0 and q[..., 1].max() <= h
        # a crop shows at least one care quad whole: the original moved by the window, to the pixel
        assert window[2:].tolist() == [w, h]
        moved = quads.numpy() - window[:2].astype(np.float32)
        care = q[~dc.numpy()]
        assert any(np.abs(c - m).max() < 0.5 for c in care for m in moved), s
    assert len(sizes) > 5  # crops of many sizes
    # nothing fits a crop smaller than the image: the image stays whole
    big = tf.constant(_quad_rect(1, 1, 298, 198)[None])
    img, _, q, dc = crop(big, labels[:1], difficult[:1], tf.constant([0, 1], tf.int64),
                         augment.AugmentConfig(crop_probability=1.0, crop_min_scale=0.1, crop_trials=4))
    assert img.shape[:2] == (200, 300) and not dc.numpy()[0]
    # only don't-care text: a crop anywhere
    img, _, q, dc = crop(quads, labels, tf.constant([True, True, True]), tf.constant([2, 1], tf.int64), cfg)
    assert img.shape[0] * img.shape[1] < 200 * 300 and dc.numpy().all()
    # a fixed window: quad 0 fully inside (exact shift), quad 1 cut to a sliver (don't care), quad 2 outside (dropped)
    q, lab, dc = augment.restrict_to_window(quads, labels, difficult, 5.0, 5.0, 150.0, 110.0, 0.7)
    np.testing.assert_allclose(q.numpy()[0], _quad_rect(5, 5, 40, 20), atol=0.5)
    assert dc.numpy().tolist() == [False, True] and len(q) == 2
    np.testing.assert_allclose(q.numpy()[1], _quad_rect(145, 95, 5, 15), atol=0.5)


def test_zoom_crop_shows_the_source_at_the_drawn_zoom():
    """--crop_zoom: square windows of side reference / zoom (zoom log-uniform in the range), clipped to
    the image, each holding a care quad whole; the same seed gives the same window; without the
    reference size the mode is refused."""
    cfg = augment.AugmentConfig(crop_probability=1.0, crop_zoom=(0.5, 2.0))
    height, width, reference = 900, 1600, 384  # a large photograph: area shares would shrink its text
    quads = tf.constant(np.stack([_quad_rect(700, 400, 120, 30), _quad_rect(100, 100, 60, 20)]))
    labels, difficult = tf.constant([1, 1]), tf.constant([False, False])
    zooms = []
    for s in range(60):
        seed = tf.constant([s, 7], tf.int64)
        window, q, _, dc = augment.sample_crop(height, width, quads, labels, difficult, seed, cfg, reference)
        x0, y0, w, h = window.numpy().tolist()
        assert w == h and reference / 2.0 - 1 <= w <= reference * 2.0  # square, side 192..768
        assert 0 <= x0 and x0 + w <= width and 0 <= y0 and y0 + h <= height
        moved = quads.numpy() - np.float32([x0, y0])
        care = q.numpy()[~dc.numpy()]
        assert any(np.abs(c - m).max() < 0.5 for c in care for m in moved), s
        again = augment.sample_crop(height, width, quads, labels, difficult, seed, cfg, reference)[0]
        assert again.numpy().tolist() == window.numpy().tolist()
        zooms.append(reference / w)
    zooms = np.log(zooms)
    # log-uniform over [log 0.5, log 2]: both halves drawn, mean near 0
    assert (zooms < -0.35).any() and (zooms > 0.35).any() and abs(zooms.mean()) < 0.3
    # a photograph smaller than the window: the window is the whole side
    window = augment.sample_crop(200, 300, quads * 0.1, labels, difficult, tf.constant([1, 7], tf.int64),
                                 augment.AugmentConfig(crop_probability=1.0, crop_zoom=(0.5, 0.5)), reference)[0]
    assert window.numpy().tolist() == [0, 0, 300, 200]
    with pytest.raises(ValueError, match="reference_size"):
        augment.sample_crop(height, width, quads, labels, difficult, tf.constant([1, 7], tf.int64), cfg)
    for bad in ((0.0, 1.0), (2.0, 1.0), (1.0,), (0.5, float("inf"))):
        with pytest.raises(ValueError, match="crop_zoom"):
            augment.AugmentConfig(crop_zoom=bad)


def test_crop_zoom_flag_reaches_the_pipeline(synthetic_records):
    """--crop_zoom parsed into the run config (malformed -> a clear ValueError); the pipeline crops
    against its largest size and still yields batches of the drawn sizes."""
    import copy

    from tfdet import flags as tfdet_flags

    tfdet_flags.define_train_flags()
    fv = copy.deepcopy(tfdet_flags.FLAGS)
    fv(["train", "--crop_zoom=0.5,2", "--sizes=256"])
    config = tfdet_flags.run_config_from_flags(fv)
    assert config.input.augment.crop_zoom == (0.5, 2.0)
    fv.crop_zoom = "abc"
    with pytest.raises(ValueError, match="--crop_zoom must be MIN,MAX"):
        tfdet_flags.run_config_from_flags(fv)
    cfg = InputConfig(sizes=(96, 128), batch_size=2, deterministic=True, seed=2,
                      augment=augment.AugmentConfig(crop_probability=1.0, crop_zoom=(0.5, 2.0)))
    for images, targets in train_dataset(synthetic_records, cfg, ANCHORS, MatcherConfig(), BoxCoder()).take(4):
        assert images.shape[1] in cfg.sizes and np.isfinite(targets["box_targets"].numpy()).all()


def test_rotation_moves_quads_with_the_image():
    image = np.zeros([100, 100, 3], np.uint8)
    image[40:60, 20:80] = 255
    quad = _quad_rect(20, 40, 60, 20)
    cfg = augment.AugmentConfig(rotate_probability=1.0, max_rotation_degrees=20)
    img, q, _, _ = augment.random_rotate(tf.constant(image), tf.constant(quad[None]), tf.constant([1]), tf.constant([False]),
                                         tf.constant([3, 4], tf.int64), cfg)
    img, q = img.numpy(), q.numpy()[0]
    inside = np.zeros(img.shape[:2], np.uint8)
    import cv2

    cv2.fillPoly(inside, [np.round(q * 1).astype(np.int32)], 1)
    bright = img[..., 0] > 127
    overlap = (bright & (inside > 0)).sum() / bright.sum()
    assert overlap > 0.9
    assert quad_ops.signed_area(tf.constant(q)).numpy() > 0


def test_resize_and_pad_scales_quads():
    image = tf.zeros([100, 200, 3])
    quads = tf.constant(_quad_rect(10, 20, 30, 40)[None])
    out, scale, q = augment.resize_and_pad(image, 64, quads)
    assert out.shape == (64, 64, 3)
    np.testing.assert_allclose(scale.numpy(), [0.32, 0.32])
    np.testing.assert_allclose(q.numpy()[0], _quad_rect(3.2, 6.4, 9.6, 12.8), atol=1e-4)


def test_color_transform_components():
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (50, 3)).astype(np.float32)
    mean = pixels.mean(0)
    luma = np.array([0.299, 0.587, 0.114], np.float32)

    def apply(brightness=0.0, contrast=1.0, saturation=1.0, hue=0.0):
        m, b = augment.color_transform(tf.constant(brightness), tf.constant(contrast), tf.constant(saturation),
                                       tf.constant(hue), tf.constant(mean))
        return pixels @ m.numpy().T + b.numpy()

    np.testing.assert_allclose(apply(), pixels, atol=1e-3)  # identity
    np.testing.assert_allclose(apply(hue=1.0), pixels, atol=1e-2)  # a full turn
    np.testing.assert_allclose(apply(brightness=20.0), pixels + 20.0, atol=1e-3)
    contrast = apply(contrast=0.5)
    np.testing.assert_allclose(contrast.mean(0), mean, atol=1e-2)  # the means stay, distances halve
    np.testing.assert_allclose(contrast - mean, (pixels - mean) * 0.5, atol=1e-2)
    gray = apply(saturation=0.0)
    np.testing.assert_allclose(gray, np.repeat((pixels @ luma)[:, None], 3, 1), atol=1e-2)  # luma, no chroma
    np.testing.assert_allclose(apply(hue=0.3) @ luma, pixels @ luma, atol=1e-2)  # hue keeps luma
    assert np.abs(apply(hue=0.3) - pixels).max() > 10


def test_photometric_range_and_determinism():
    image = tf.constant(np.random.default_rng(1).integers(0, 256, (40, 60, 3)), tf.uint8)
    cfg = augment.AugmentConfig(blur_probability=0.5, jpeg_probability=0.5)
    outs = [augment.photometric(image, tf.constant([3, i], tf.int64), cfg).numpy() for i in range(6)]
    for out in outs:
        assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(outs[0], augment.photometric(image, tf.constant([3, 0], tf.int64), cfg).numpy())
    assert np.abs(outs[0].astype(float) - outs[1]).mean() > 1  # another seed, another change


def test_multiscale_batches_have_allowed_sizes(synthetic_records):
    cfg = InputConfig(sizes=(96, 128, 160), batch_size=2, deterministic=True, seed=1)
    ds = train_dataset(synthetic_records, cfg, ANCHORS, MatcherConfig(), BoxCoder())
    seen = set()
    for images, targets in ds.take(10):
        size = images.shape[1]
        assert images.shape[1:] == (size, size, 3) and size in cfg.sizes and images.dtype == tf.uint8
        assert targets["cls_targets"].shape == (2, ANCHORS.num_anchors(size, size))
        indices, boxes = targets["box_indices"].numpy(), targets["box_targets"].numpy()
        assert boxes.shape == indices.shape + (12,) and indices.shape[0] == 2
        for cls, idx, box in zip(targets["cls_targets"].numpy(), indices, boxes):  # positives listed, then -1 padding
            n = int((cls > 0).sum())
            assert list(idx[:n]) == list(np.nonzero(cls > 0)[0]) and (idx[n:] == -1).all() and (box[n:] == 0).all()
        seen.add(size)
    assert len(seen) >= 2


def test_deterministic_mode_repeats(synthetic_records):
    cfg = InputConfig(sizes=(128,), batch_size=2, deterministic=True, seed=3)
    a = [x.numpy() for x, _ in train_dataset(synthetic_records, cfg, ANCHORS, MatcherConfig(), BoxCoder()).take(3)]
    b = [x.numpy() for x, _ in train_dataset(synthetic_records, cfg, ANCHORS, MatcherConfig(), BoxCoder()).take(3)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _moved_ground_truth(sample, size, flip):
    """The care quads of a record as the network must see them without a crop: mirrored (x -> width - x,
    re-ordered by the one ordering function) when `flip`, then resized (longer side -> size)."""
    from tfdet import geometry

    quads = sample.quads[~np.asarray(sample.difficult, bool)].copy()
    if flip:
        quads[..., 0] = sample.width - quads[..., 0]
        quads = np.stack([geometry.order_quad(q) for q in quads])
    ratio = size / max(sample.width, sample.height)
    return quads * np.array([round(sample.width * ratio) / sample.width, round(sample.height * ratio) / sample.height])


def _decoded_positives(targets, i, size, coder):
    indices = targets["box_indices"][i].numpy()
    count = int((indices >= 0).sum())
    anchors = generate_anchors_np(ANCHORS, size, size)[indices[:count]]
    quads, _ = coder.decode(targets["box_targets"][i, :count], tf.constant(anchors))
    return quads.numpy()


def _explains(decoded, truth, atol=0.02):
    """Every decoded quad is one of the truth quads, vertex by vertex (order included)."""
    if len(truth) == 0:
        return False
    return bool((np.abs(decoded[:, None] - truth[None]).max(axis=(2, 3)) < atol).any(axis=1).all())


@pytest.mark.parametrize("flip", [False, True])
def test_targets_decode_back_to_ground_truth(synthetic_records, flip):
    """Decoded box targets of every positive anchor are the record's quads moved as the pipeline moves
    them (resize; with --horizontal_flip, mirrored on about half the images), vertex by vertex."""
    from tfdet.records.codec import read_samples

    samples = list(read_samples(synthetic_records))
    size, coder = 128, BoxCoder()
    cfg = InputConfig(sizes=(size,), batch_size=4, deterministic=True, seed=2,
                      augment=augment.AugmentConfig(crop_probability=0.0, photometric=False, horizontal_flip=flip))
    seen = []
    for _, targets in train_dataset(synthetic_records, cfg, ANCHORS, MatcherConfig(), coder).take(3):
        for i in range(4):
            decoded = _decoded_positives(targets, i, size, coder)
            assert len(decoded) > 0
            found = {(k, f) for k, sample in enumerate(samples) for f in {False, flip}
                     if _explains(decoded, _moved_ground_truth(sample, size, f))}
            assert len(found) == 1, "the targets must be one record's quads, moved as the pipeline moves them"
            k, mirrored = found.pop()
            truth = _moved_ground_truth(samples[k], size, mirrored)
            # the decoded quads are not the truth with a vertex moved or x and y swapped
            assert not _explains(decoded, np.roll(truth, 1, axis=1)) and not _explains(decoded, truth[..., ::-1])
            seen.append(mirrored)
    assert set(seen) == ({False, True} if flip else {False})


def test_horizontal_flip_mirrors_pixels_and_reorders_quads():
    image = np.zeros((60, 100, 3), np.uint8)
    image[10:20, 30:45] = 255  # a white block under the first quad's box
    quads = tf.constant([[[10, 10], [50, 14], [48, 30], [8, 26]], [[30, 10], [45, 10], [45, 20], [30, 20]]], tf.float32)
    outcomes = set()
    for s in range(8):
        out, moved = augment.random_horizontal_flip(tf.constant(image), quads, tf.constant([s, 0], tf.int64))
        out, moved = out.numpy(), moved.numpy()
        if (out == image).all():
            np.testing.assert_array_equal(moved, quads.numpy())
            outcomes.add(False)
            continue
        np.testing.assert_array_equal(out, image[:, ::-1])
        # x -> 100 - x, clockwise again, from the vertex nearest the box's top-left (hand-computed)
        np.testing.assert_allclose(moved[0], [[50, 14], [90, 10], [92, 26], [52, 30]])
        np.testing.assert_allclose(moved[1], [[55, 10], [70, 10], [70, 20], [55, 20]])
        assert (out[10:20, 55:70] == 255).all() and out[10:20, 30:45].max() == 0  # the block moved with its quad
        outcomes.add(True)
    assert outcomes == {False, True}


def test_pipeline_on_real_icdar2015_records(tmp_path):
    root = shared_path("icdar2015", "train")
    out = str(tmp_path / "ic15")
    writer.convert(get_reader("icdar2015", image_dir=os.path.join(root, "images"), annotations=os.path.join(root, "gt")), out,
                   num_shards=2, progress=False)
    cfg = InputConfig(sizes=(256, 320), batch_size=2, deterministic=True)
    images, targets = next(iter(train_dataset(os.path.join(out, "*.tfrecord"), cfg, ANCHORS, MatcherConfig(), BoxCoder())))
    assert images.shape[0] == 2 and np.isfinite(targets["box_targets"].numpy()).all()
    assert (targets["cls_targets"].numpy() > 0).sum() > 0  # real text gets positive anchors


def test_od_api_records_without_quads(tmp_path):
    import cv2

    from tfdet.input.parser import parse_example

    ok, jpeg = cv2.imencode(".jpg", np.zeros((50, 100, 3), np.uint8))
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg.tobytes()])),
        "image/object/bbox/xmin": tf.train.Feature(float_list=tf.train.FloatList(value=[0.1])),
        "image/object/bbox/xmax": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5])),
        "image/object/bbox/ymin": tf.train.Feature(float_list=tf.train.FloatList(value=[0.2])),
        "image/object/bbox/ymax": tf.train.Feature(float_list=tf.train.FloatList(value=[0.6])),
    }
    ex = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
    parsed = parse_example(tf.constant(ex))
    np.testing.assert_allclose(parsed["quads"].numpy()[0], _quad_rect(10, 10, 40, 20), atol=1e-4)
    assert parsed["labels"].numpy().tolist() == [1] and parsed["difficult"].numpy().tolist() == [False]
    # crowd boxes are don't care for training: no positives on them, their anchors ignored
    feature["image/object/is_crowd"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))
    crowd = parse_example(tf.constant(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()))
    assert crowd["difficult"].numpy().tolist() == [True]
    anchors = generate_anchors_np(ANCHORS, 64, 64)
    for parsed_example, has_positive in ((parsed, True), (crowd, False)):
        cls, positive, _ = build_targets(parsed_example["quads"], parsed_example["labels"], parsed_example["difficult"],
                                         tf.constant(anchors), MatcherConfig(), BoxCoder(), ANCHORS, 64)
        assert (len(positive) > 0) == has_positive and ((cls.numpy() == -1).any() or has_positive)


def test_show_records_draws_ground_truth_and_augmented_batches(synthetic_records, tmp_path):
    import subprocess
    import sys

    import cv2

    from tests.conftest import REPO

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    tool = os.path.join(REPO, "tools", "show_records.py")
    for extra, prefix, size in (([], "", None), (["--augmented", "--sizes=128", "--crop_probability=1"], "augmented_", 128)):
        out = tmp_path / (prefix or "gt")
        done = subprocess.run([sys.executable, tool, f"--records={synthetic_records}", f"--output_dir={out}", "--num_images=3", *extra],
                              capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
        assert done.returncode == 0, done.stderr[-2000:]
        pictures = sorted(p for p in os.listdir(out) if p.endswith(".png"))
        assert len(pictures) == 3 and all(p.startswith(prefix) for p in pictures)
        picture = cv2.imread(str(out / pictures[0]))
        assert picture is not None and (size is None or picture.shape[:2] == (size, size))
    missing = subprocess.run([sys.executable, tool, f"--records={tmp_path / 'none-*'}", f"--output_dir={tmp_path / 'x'}"],
                             capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert missing.returncode == 1 and "error:" in missing.stderr
