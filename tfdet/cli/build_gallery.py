"""tools/build_gallery.py: reference images (a folder per label, or ground-truth crops of records)
-> embeddings in a gallery file. --append adds to an existing gallery (earlier entries kept)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def choose_per_label(names: list, per_label: int, seed: int) -> np.ndarray:
    """Indices keeping at most `per_label` entries of each label (seeded choice, original order)."""
    if per_label <= 0:
        return np.arange(len(names))
    rng = np.random.default_rng(seed)
    keep = []
    for label in sorted(set(names)):
        members = [i for i, n in enumerate(names) if n == label]
        keep.extend(rng.choice(members, min(per_label, len(members)), replace=False))
    return np.sort(np.asarray(keep, np.int64))


def run(FLAGS) -> int:
    from tfdet.recognition.crops import crops_from_folders, crops_from_records
    from tfdet.recognition.gallery import Gallery, GalleryError, embedder_fingerprint
    from tfdet.recognition.model import embed
    from tfdet.recognition.train import load_embedder

    if bool(FLAGS.image_dir) == bool(FLAGS.records):
        print("error: give exactly one of --image_dir (a folder per label) and --records", file=sys.stderr)
        return 2
    try:
        model, config, checkpoint = load_embedder(FLAGS.embedder)
        problems = []
        if FLAGS.image_dir:
            crops, problems = crops_from_folders(FLAGS.image_dir, config.model.input_size)
        else:
            names = [n.strip() for n in FLAGS.labels.split(",") if n.strip()] or None
            crops = crops_from_records(FLAGS.records, config.model.input_size, config.model.crop_margin, names,
                                       progress=FLAGS.progress)
            crops = crops.subset(choose_per_label(crops.names, FLAGS.per_label, FLAGS.seed))
            if not len(crops):
                raise ValueError(f"no ground-truth objects in {FLAGS.records}")
        for problem in problems:
            print(f"warning: {problem} (skipped)", file=sys.stderr)
        meta = {"embedder": embedder_fingerprint(config, checkpoint), "crop_size": config.model.input_size,
                "crop_margin": config.model.crop_margin, "embedding_size": config.model.embedding_size}
        new = Gallery(embed(model, crops.images), crops.names, crops.sources, crops.images, meta)
        if FLAGS.append and not os.path.exists(FLAGS.output):
            print(f"note: {FLAGS.output} does not exist yet; --append starts a new gallery", file=sys.stderr)
        gallery = Gallery.load(FLAGS.output).append(new) if FLAGS.append and os.path.exists(FLAGS.output) else new
        gallery.save(FLAGS.output)
    except (FileNotFoundError, ValueError, GalleryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"gallery": FLAGS.output, "entries": len(gallery), "added": len(new), "labels": len(gallery.labels),
                      "skipped_files": len(problems)}))
    return 0
