"""Recognition metrics over query crops (the reference project's table): top-1 / top-5
accuracy, per-label precision, recall and F1 with their macro and support-weighted means
(labels: those of the queries and of the top-1 predictions, as sklearn's classification_report
counts them), the most-confused label pairs, and a picture of query / nearest-gallery pairs."""

from __future__ import annotations

from collections import Counter

import numpy as np


def classification_metrics(true: list, ranked: list, top_confusions: int = 10) -> dict:
    """true: label per query; ranked: top-k predicted labels per query (best first)."""
    n = len(true)
    if n == 0:
        return {"queries": 0}
    top1 = [r[0] for r in ranked]
    labels = sorted(set(true) | set(top1))
    support = Counter(true)
    predicted = Counter(top1)
    correct = Counter(t for t, p in zip(true, top1) if t == p)
    per_label = {}
    for label in labels:
        tp = correct[label]
        precision = tp / predicted[label] if predicted[label] else 0.0
        recall = tp / support[label] if support[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support[label]}
    weights = np.array([per_label[lb]["support"] for lb in labels], np.float64)

    def mean(key, weighted):
        values = np.array([per_label[lb][key] for lb in labels])
        return float((values * weights).sum() / weights.sum()) if weighted else float(values.mean())

    confusions = Counter((t, p) for t, p in zip(true, top1) if t != p).most_common(top_confusions)
    return {
        "queries": n,
        "top1": sum(t == p for t, p in zip(true, top1)) / n,
        "top5": sum(t in r[:5] for t, r in zip(true, ranked)) / n,
        **{f"{avg}_{key}": mean(key, avg == "weighted") for avg in ("macro", "weighted") for key in ("precision", "recall", "f1")},
        "most_confused": [{"true": t, "predicted": p, "count": c} for (t, p), c in confusions],
        "per_label": per_label,
    }


def pairs_picture(query_crops, gallery_crops, true: list, predicted: list, scores, columns: int = 4) -> np.ndarray:
    """Rows of (query | nearest gallery entry) tiles, captioned, green when right and red when wrong."""
    import cv2

    size = query_crops.shape[1] if len(query_crops) else 64
    tile = max(size, 96)
    caption = 28
    count = len(query_crops)
    rows = max(1, (count + columns - 1) // columns)
    canvas = np.full((rows * (tile + caption), columns * (2 * tile + 8), 3), 255, np.uint8)
    for i in range(count):
        r, c = divmod(i, columns)
        y, x = r * (tile + caption), c * (2 * tile + 8)
        for j, crop in enumerate((query_crops[i], gallery_crops[i])):
            canvas[y:y + tile, x + j * tile:x + (j + 1) * tile] = cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_NEAREST)
        color = (0, 150, 0) if true[i] == predicted[i] else (220, 0, 0)
        cv2.rectangle(canvas, (x, y), (x + 2 * tile - 1, y + tile - 1), color, 2)
        cv2.putText(canvas, f"q {true[i]}"[:30], (x + 2, y + tile + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, f"-> {predicted[i]} {float(scores[i]):.2f}"[:30], (x + 2, y + tile + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    color, 1, cv2.LINE_AA)
    return canvas
