"""tools/predict.py: images in, PNGs with drawn quads and detections.jsonl out."""

from __future__ import annotations

import glob
import json
import os
import sys

import numpy as np

from tfdet import flags as tfdet_flags
from tfdet.datasets.base import IMAGE_EXTENSIONS


def list_images(spec: str) -> list[str]:
    if os.path.isdir(spec):
        return sorted(os.path.join(spec, n) for n in os.listdir(spec) if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS)
    if os.path.isfile(spec):
        return [spec]
    return sorted(p for p in glob.glob(spec) if os.path.splitext(p)[1].lower() in IMAGE_EXTENSIONS)


def run(FLAGS) -> int:
    from tqdm import tqdm

    from tfdet import visualize
    from tfdet.serving.export import load_detector, run_protocol

    paths = list_images(FLAGS.images)
    if not paths:
        print(f"error: no images at {FLAGS.images}", file=sys.stderr)
        return 2
    try:
        post = tfdet_flags.postprocess_config_from_flags(FLAGS, protocol=run_protocol(FLAGS.model))  # the run's NMS IoU
        detector = load_detector(FLAGS.model, post, FLAGS.size or None, tfdet_flags.requested_postprocess(FLAGS), FLAGS.precision)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    good, skipped = [], 0
    for p in paths:
        problem = check_image(p)
        if problem:
            print(f"warning: {p}: {problem}; skipped", file=sys.stderr)
            skipped += 1
            continue
        with open(p, "rb") as f:
            good.append((p, f.read()))
    total, done = 0, 0
    with open(os.path.join(FLAGS.output_dir, "detections.jsonl"), "w") as out, \
            tqdm(total=len(good), desc="predict", unit="img", file=sys.stderr) as bar:
        for start in range(0, len(good), FLAGS.batch_size):
            chunk = good[start:start + FLAGS.batch_size]
            for (path, data), result in zip(chunk, detect_each(detector, chunk)):
                bar.update(1)
                if isinstance(result, str):
                    print(f"warning: {path}: {result}; skipped", file=sys.stderr)
                    skipped += 1
                    continue
                quads, scores, classes = result
                total += len(scores)
                done += 1
                image = visualize.draw_quads(visualize.decode_image(data), quads, [visualize.PRED_COLOR] * len(quads),
                                             [f"{s:.2f}" for s in scores])
                name = os.path.splitext(os.path.basename(path))[0] + "_pred.png"
                visualize.save_png(os.path.join(FLAGS.output_dir, name), image)
                out.write(json.dumps({"image": path, "quads": np.round(quads, 2).tolist(), "scores": np.round(scores, 4).tolist(),
                                      "classes": classes.tolist()}) + "\n")
    print(json.dumps({"images": done, "skipped": skipped, "detections": total, "output_dir": FLAGS.output_dir}))
    return 0 if done else 1


def check_image(path: str) -> str | None:
    """Why `path` cannot be detected on (unreadable, empty, not an image, too many pixels), or None."""
    from tfdet.datasets.base import ImageError, image_header_size, inspect_image
    from tfdet.serving.module import MAX_PIXELS

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not data:
        return "empty file"
    try:
        size = image_header_size(data)
        if size and size[0] * size[1] > MAX_PIXELS:
            return f"{size[1]}x{size[0]} pixels is over the {MAX_PIXELS // 1_000_000} megapixel limit"
        inspect_image(data)
    except ImageError as exc:
        return str(exc)
    return None


def detect_each(detector, chunk):
    """[(quads [N, 4, 2], scores, classes) or an error message] for each (path, bytes) of `chunk`: the
    batch at once, and image by image when the batch fails, so that one bad image costs only itself."""
    import tensorflow as tf

    def results(batch):
        out = detector.detect_encoded([d for _, d in batch])
        for i in range(len(batch)):
            n = int(out["num_detections"][i])
            yield (out["detection_quads"][i, :n].reshape(-1, 4, 2), out["detection_scores"][i, :n],
                   out["detection_classes"][i, :n])

    try:
        return list(results(chunk))
    except (tf.errors.InvalidArgumentError, ValueError) as exc:
        if len(chunk) == 1:
            return [getattr(exc, "message", str(exc)).splitlines()[0]]
        return [one for item in chunk for one in detect_each(detector, [item])]
