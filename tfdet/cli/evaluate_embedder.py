"""tools/evaluate_embedder.py: every ground-truth crop of --records is a query, named by its
nearest --gallery label; metrics overall and split into labels seen / never seen in training."""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def seen_label_set(spec: str, embedder: str) -> set | None:
    """A labels.json (the embedder's by default), another file of labels, or a comma list."""
    from tfdet.recognition.config import LABELS_FILE

    path = spec or os.path.join(embedder if os.path.isdir(embedder) else os.path.dirname(embedder), LABELS_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            return set(json.loads(text)["labels"])
        except (ValueError, KeyError, TypeError):
            return {line.strip() for line in text.splitlines() if line.strip()}
    if spec:
        return {n.strip() for n in spec.split(",") if n.strip()}
    return None


def run(FLAGS) -> int:
    from tfdet import visualize
    from tfdet.recognition.crops import crops_from_records
    from tfdet.recognition.evaluate import classification_metrics, pairs_picture
    from tfdet.recognition.gallery import Gallery, GalleryError, check_embedder
    from tfdet.recognition.model import embed
    from tfdet.recognition.train import load_embedder

    try:
        model, config, checkpoint = load_embedder(FLAGS.embedder)
        gallery = Gallery.load(FLAGS.gallery)
        check_embedder(gallery, config, checkpoint, FLAGS.gallery, FLAGS.embedder)
        queries = crops_from_records(FLAGS.records, config.model.input_size, config.model.crop_margin, progress=FLAGS.progress)
        if not len(queries):
            raise ValueError(f"no ground-truth objects in {FLAGS.records}")
        ranked, scores, nearest = gallery.rank(embed(model, queries.images), k=5)
    except (FileNotFoundError, ValueError, GalleryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    seen = seen_label_set(FLAGS.seen_labels, FLAGS.embedder)
    summary = {"overall": classification_metrics(queries.names, ranked)}
    if seen is not None:
        for part, keep in (("seen", [n in seen for n in queries.names]), ("unseen", [n not in seen for n in queries.names])):
            index = np.nonzero(keep)[0]
            summary[part] = classification_metrics([queries.names[i] for i in index], [ranked[i] for i in index])
    summary["queries_without_gallery_label"] = int(sum(n not in set(gallery.labels) for n in queries.names))
    summary["gallery"] = {"entries": len(gallery), "labels": len(gallery.labels)}
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    with open(os.path.join(FLAGS.output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    # the picture: mistakes first, then right answers, up to --pairs
    order = sorted(range(len(queries)), key=lambda i: (queries.names[i] == ranked[i][0], i))[:FLAGS.pairs]
    if order:
        picture = pairs_picture(queries.images[order], gallery.crops[nearest[order]], [queries.names[i] for i in order],
                                [ranked[i][0] for i in order], scores[order, 0])
        visualize.save_png(os.path.join(FLAGS.output_dir, "pairs.png"), picture)
    line = {}
    for part in ("overall", "seen", "unseen"):
        if part in summary and summary[part]["queries"]:
            m = summary[part]
            line[part] = {k: round(m[k], 4) for k in ("top1", "top5", "macro_f1", "weighted_f1")} | {"queries": m["queries"]}
            print(f"{part}: {m['queries']} queries, top-1 {m['top1']:.3f}, top-5 {m['top5']:.3f}, "
                  f"macro P/R/F1 {m['macro_precision']:.3f}/{m['macro_recall']:.3f}/{m['macro_f1']:.3f}, "
                  f"weighted F1 {m['weighted_f1']:.3f}")
    for c in summary["overall"]["most_confused"][:5]:
        print(f"  confused: {c['true']} -> {c['predicted']} ({c['count']}x)")
    line["output_dir"] = FLAGS.output_dir
    print(json.dumps(line))
    return 0
