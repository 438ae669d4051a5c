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
    from tfdet.datasets.base import ImageError, inspect_image
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
        with open(p, "rb") as f:
            data = f.read()
        try:
            inspect_image(data)
            good.append((p, data))
        except ImageError as exc:
            print(f"warning: {p}: {exc}; skipped", file=sys.stderr)
            skipped += 1
    total = 0
    with open(os.path.join(FLAGS.output_dir, "detections.jsonl"), "w") as out, \
            tqdm(total=len(good), desc="predict", unit="img", file=sys.stderr) as bar:
        for start in range(0, len(good), FLAGS.batch_size):
            chunk = good[start:start + FLAGS.batch_size]
            result = detector.detect_encoded([d for _, d in chunk])
            for i, (path, data) in enumerate(chunk):
                n = int(result["num_detections"][i])
                keep = result["detection_scores"][i, :n] >= FLAGS.score_threshold
                quads = result["detection_quads"][i, :n][keep].reshape(-1, 4, 2)
                scores = result["detection_scores"][i, :n][keep]
                classes = result["detection_classes"][i, :n][keep]
                total += len(scores)
                image = visualize.draw_quads(visualize.decode_image(data), quads, [visualize.PRED_COLOR] * len(quads),
                                             [f"{s:.2f}" for s in scores])
                name = os.path.splitext(os.path.basename(path))[0] + "_pred.png"
                visualize.save_png(os.path.join(FLAGS.output_dir, name), image)
                out.write(json.dumps({"image": path, "quads": np.round(quads, 2).tolist(), "scores": np.round(scores, 4).tolist(),
                                      "classes": classes.tolist()}) + "\n")
                bar.update(1)
    print(json.dumps({"images": len(good), "skipped": skipped, "detections": total, "output_dir": FLAGS.output_dir}))
    return 0
