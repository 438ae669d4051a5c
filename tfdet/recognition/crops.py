"""Object crops for the embedder: one crop function for training, galleries and serving.

A crop is the object's box grown by `margin` (a share of its width and height on each side),
resized keeping its aspect ratio so that its longer side fills `size`, centred and padded with
PAD_VALUE to `size` x `size` (parts of the grown box outside the image are padding too). It is
written in TF ops only, so the SavedModel crops detections exactly as training cropped ground
truth.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

PAD_VALUE = 127.0


def crop_boxes(image, boxes_yxyx, size: int, margin: float = 0.1, pad_value: float = PAD_VALUE):
    """image [H, W, 3] (uint8 or float), boxes [N, 4] (ymin, xmin, ymax, xmax) in its pixels ->
    float32 [N, size, size, 3] crops (0-255)."""
    import tensorflow as tf

    image = tf.cast(image, tf.float32)
    boxes = tf.cast(tf.reshape(boxes_yxyx, [-1, 4]), tf.float32)
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    bh = tf.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    bw = tf.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    grown = tf.stack([boxes[:, 0] - margin * bh, boxes[:, 1] - margin * bw, boxes[:, 2] + margin * bh,
                      boxes[:, 3] + margin * bw], -1)
    side = tf.maximum(bh, bw) * (1.0 + 2.0 * margin)
    cy, cx = (grown[:, 0] + grown[:, 2]) / 2.0, (grown[:, 1] + grown[:, 3]) / 2.0
    y0, x0 = cy - side / 2.0, cx - side / 2.0
    # pixel i of the crop samples the image at y0 + (i + 0.5) * side / size (pixel centres)
    step = side / float(size)
    start_y, start_x = y0 + 0.5 * step - 0.5, x0 + 0.5 * step - 0.5
    end_y, end_x = start_y + (size - 1) * step, start_x + (size - 1) * step
    # one edge-replicated pixel around the image: samples within half a pixel of the border stay inside
    padded = tf.pad(image, [[1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    norm = tf.stack([(start_y + 1.0) / (hw[0] + 1.0), (start_x + 1.0) / (hw[1] + 1.0),
                     (end_y + 1.0) / (hw[0] + 1.0), (end_x + 1.0) / (hw[1] + 1.0)], -1)
    n = tf.shape(boxes)[0]
    crops = tf.image.crop_and_resize(padded[None], norm, tf.zeros([n], tf.int32), [size, size], extrapolation_value=pad_value)
    centres = (tf.range(size, dtype=tf.float32) + 0.5)[None, :] * step[:, None]  # [N, size]
    ys, xs = y0[:, None] + centres, x0[:, None] + centres
    inside_y = (ys >= grown[:, 0:1]) & (ys <= grown[:, 2:3]) & (ys >= 0.0) & (ys <= hw[0])
    inside_x = (xs >= grown[:, 1:2]) & (xs <= grown[:, 3:4]) & (xs >= 0.0) & (xs <= hw[1])
    inside = inside_y[:, :, None, None] & inside_x[:, None, :, None]
    return tf.where(inside, crops, pad_value)


def crop_whole(image, size: int, pad_value: float = PAD_VALUE):
    """A picture of one object (a gallery image or a crop sent to serving) -> [size, size, 3]."""
    import tensorflow as tf

    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    return crop_boxes(image, tf.stack([0.0, 0.0, hw[0], hw[1]])[None], size, 0.0, pad_value)[0]


@dataclasses.dataclass
class CropSet:
    """Crops in memory: images uint8 [N, S, S, 3], the label name of each, and where each came from."""

    images: np.ndarray
    names: list
    sources: list

    def __len__(self):
        return len(self.names)

    def label_ids(self, vocabulary=None) -> tuple[np.ndarray, list]:
        """-> (int ids [N], vocabulary): ids index the sorted label names (or the given vocabulary)."""
        vocabulary = sorted(set(self.names)) if vocabulary is None else list(vocabulary)
        index = {name: i for i, name in enumerate(vocabulary)}
        return np.asarray([index.get(n, -1) for n in self.names], np.int64), vocabulary

    def subset(self, keep) -> "CropSet":
        keep = np.asarray(keep)
        if keep.dtype == bool:
            keep = np.nonzero(keep)[0]
        return CropSet(self.images[keep], [self.names[i] for i in keep], [self.sources[i] for i in keep])

    @staticmethod
    def concatenate(sets) -> "CropSet":
        sets = [s for s in sets if len(s)]
        if not sets:
            raise ValueError("no crops")
        return CropSet(np.concatenate([s.images for s in sets]), sum((s.names for s in sets), []),
                       sum((s.sources for s in sets), []))


def original_label_names(record_glob: str) -> dict:
    """{original label: name} from the dataset.json beside class-agnostic records ({} if none)."""
    from tfdet import keys
    from tfdet.records.codec import iter_record_files

    names = {}
    for folder in sorted({os.path.dirname(p) for p in iter_record_files(record_glob)}):
        path = os.path.join(folder, keys.DATASET_JSON)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                names.update({int(v): k for k, v in json.load(f).get("original_label_map", {}).items()})
    return names


def object_names(sample, original_names: dict) -> list:
    """The identity of each object: its original category in class-agnostic records, else its class."""
    if sample.original_labels:
        return [original_names.get(int(v), str(int(v))) for v in sample.original_labels]
    return [name or str(label) for name, label in zip(sample.class_names, sample.labels)]


def crops_from_records(record_glob: str, size: int, margin: float = 0.1, names=None, max_crops: int = 0,
                       progress: bool = False) -> CropSet:
    """Ground-truth crops of every care object in COCO-format records (class-agnostic or not).
    `names`: keep only these identities."""
    import tensorflow as tf
    from tqdm import tqdm

    keep = set(names) if names is not None else None
    original = original_label_names(record_glob)
    images, out_names, sources = [], [], []
    for sample in tqdm(_read_samples(record_glob), desc="crops", unit="img", disable=not progress):
        labels = object_names(sample, original)
        chosen = [i for i in range(sample.num_objects) if not sample.difficult[i] and (keep is None or labels[i] in keep)]
        if not chosen:
            continue
        quads = sample.quads[chosen]
        boxes = np.stack([quads[..., 1].min(1), quads[..., 0].min(1), quads[..., 1].max(1), quads[..., 0].max(1)], -1)
        pixels = tf.io.decode_image(sample.image, channels=3, expand_animations=False)
        crops = crop_boxes(pixels, boxes, size, margin)
        images.append(tf.saturate_cast(tf.round(crops), tf.uint8).numpy())
        out_names.extend(labels[i] for i in chosen)
        sources.extend(f"{sample.filename}#{i}" for i in chosen)
        if max_crops and len(out_names) >= max_crops:
            break
    if not images:
        return CropSet(np.zeros((0, size, size, 3), np.uint8), [], [])
    return CropSet(np.concatenate(images), out_names, sources)


def _read_samples(record_glob: str):
    """Samples of every record file; a file that is not a TFRecord is a ValueError naming it."""
    import tensorflow as tf

    from tfdet.records.codec import example_to_sample, iter_record_files

    for path in iter_record_files(record_glob):
        try:
            for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
                yield example_to_sample(raw)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as exc:
            raise ValueError(f"{path}: not a readable TFRecord file ({str(exc).splitlines()[0][:160]})") from None


def crops_from_folders(root: str, size: int) -> tuple[CropSet, list]:
    """One folder per label (root/<label>/*.jpg|png): each image is one object.
    -> (crops, problems: 'path: reason' for unreadable files, which are skipped)."""
    import tensorflow as tf

    from tfdet.datasets.base import IMAGE_EXTENSIONS

    if not os.path.isdir(root):
        raise FileNotFoundError(f"gallery image folder not found: {root}")
    images, names, sources, problems = [], [], [], []
    for label in sorted(os.listdir(root)):
        folder = os.path.join(root, label)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    pixels = tf.io.decode_image(f.read(), channels=3, expand_animations=False)
            except (OSError, tf.errors.InvalidArgumentError) as exc:
                problems.append(f"{path}: cannot read image ({str(exc).splitlines()[0][:120]})")
                continue
            images.append(tf.saturate_cast(tf.round(crop_whole(pixels, size)), tf.uint8).numpy())
            names.append(label)
            sources.append(path)
    if not images:
        raise ValueError(f"{root}: no readable images in label folders (expected {root}/<label>/<image>)")
    return CropSet(np.stack(images), names, sources), problems
