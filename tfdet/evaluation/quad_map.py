"""COCO-style mAP on oriented quads (`--protocol=coco_quad`), with DOTA-style VOC AP50 as an option.

The IoU of two quads is the exact IoU of the two polygons (shapely). Matching and
accumulation follow pycocotools' `COCOeval` step for step (per image and class:
detections in score order, the best still-unmatched ground truth at IoU >= t,
at most `max_detections` per image and class, 101-point interpolated precision,
IoU thresholds 0.50:0.05:0.95), so on axis-aligned quads the numbers equal
pycocotools' `bbox` numbers (tests/evaluation/test_quad_map.py checks this).
One difference by design: a `difficult` (don't care) ground truth is ignored
with the plain IoU, as DOTA does, where pycocotools only knows `iscrowd`
(intersection over the detection's area): a detection matched to an ignored
ground truth counts neither way, and an ignored ground truth absorbs any number
of detections (as a crowd region does in pycocotools).

DOTA-style AP50 (`voc07`: 11-point, `voc12`: area under the precision envelope)
follows the DOTA devkit's `voc_eval`: detections of a class over all images in
score order, each matched to the ground truth of largest IoU (> 0.5, strict);
a second detection on an already matched ground truth is a false positive, one
on a difficult ground truth is ignored.

Inputs are plain numpy: one `ImageData` per image with pixel quads (N, 4, 2),
labels, difficult flags, and the detections' quads, scores and labels.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from tfdet import geometry

IOU_THRESHOLDS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2))
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
VOC_METHODS = ("voc07", "voc12")


@dataclasses.dataclass
class ImageData:
    """Ground truth and detections of one image, pixels."""

    gt_quads: np.ndarray
    gt_labels: np.ndarray
    gt_difficult: np.ndarray
    det_quads: np.ndarray
    det_scores: np.ndarray
    det_labels: np.ndarray

    def __post_init__(self):
        self.gt_quads = np.asarray(self.gt_quads, np.float64).reshape(-1, 4, 2)
        self.gt_labels = np.asarray(self.gt_labels, np.int64).reshape(-1)
        self.gt_difficult = np.asarray(self.gt_difficult, bool).reshape(-1)
        self.det_quads = np.asarray(self.det_quads, np.float64).reshape(-1, 4, 2)
        self.det_scores = np.asarray(self.det_scores, np.float64).reshape(-1)
        self.det_labels = np.asarray(self.det_labels, np.int64).reshape(-1)
        if not len(self.gt_quads) == len(self.gt_labels) == len(self.gt_difficult):
            raise ValueError(f"ground truth: {len(self.gt_quads)} quads, {len(self.gt_labels)} labels, {len(self.gt_difficult)} flags")
        if not len(self.det_quads) == len(self.det_scores) == len(self.det_labels):
            raise ValueError(f"detections: {len(self.det_quads)} quads, {len(self.det_scores)} scores, {len(self.det_labels)} labels")


def _polygons(quads: np.ndarray):
    """Shapely polygons of (N, 4, 2) quads; bow-ties repaired (geometry.order_quad), degenerate ones empty."""
    import shapely

    out = []
    for quad in quads:
        q = geometry.order_quad(quad) if np.all(np.isfinite(quad)) else None
        if q is None or abs(geometry.signed_area(q)) <= 0.0:
            out.append(shapely.Polygon())
            continue
        polygon = shapely.Polygon(q)
        out.append(polygon if polygon.is_valid else shapely.make_valid(polygon))
    return np.array(out, dtype=object)


def quad_iou_matrix(quads_a, quads_b) -> np.ndarray:
    """Exact polygon IoU of every quad of `quads_a` (N, 4, 2) with every quad of `quads_b` (M, 4, 2) -> (N, M)."""
    import shapely

    a = _polygons(np.asarray(quads_a, np.float64).reshape(-1, 4, 2))
    b = _polygons(np.asarray(quads_b, np.float64).reshape(-1, 4, 2))
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    inter = shapely.area(shapely.intersection(a[:, None], b[None, :]))
    union = shapely.area(a)[:, None] + shapely.area(b)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.clip(iou, 0.0, 1.0)


def _match_image(ious: np.ndarray, gt_ignore: np.ndarray, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.evaluateImg for one image and class. `ious` (D, G) with detections in score order and
    ground truth with the ignored ones last. -> (det_matched (T, D) bool, det_ignored (T, D) bool)."""
    num_det, num_gt = ious.shape
    matched = np.zeros((len(thresholds), num_det), bool)
    ignored = np.zeros((len(thresholds), num_det), bool)
    for t_index, threshold in enumerate(thresholds):
        gt_taken = np.zeros(num_gt, bool)
        for d in range(num_det):
            best_iou, best = min(threshold, 1 - 1e-10), -1
            for g in range(num_gt):
                if gt_taken[g] and not gt_ignore[g]:
                    continue  # an ignored ground truth absorbs any number of detections (COCO's crowd rule)
                if best > -1 and not gt_ignore[best] and gt_ignore[g]:
                    break  # a real match is never traded for an ignored one
                if ious[d, g] < best_iou:
                    continue
                best_iou, best = ious[d, g], g
            if best > -1:
                gt_taken[best] = True
                matched[t_index, d] = True
                ignored[t_index, d] = gt_ignore[best]
    return matched, ignored


def _interpolated_precision(tp: np.ndarray, fp: np.ndarray, num_gt: int) -> tuple[np.ndarray, float]:
    """COCOeval.accumulate for one class and threshold: (precision at the 101 recall points, final recall)."""
    tp_sum, fp_sum = np.cumsum(tp, dtype=np.float64), np.cumsum(fp, dtype=np.float64)
    recall = tp_sum / num_gt
    precision = tp_sum / (fp_sum + tp_sum + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    points = np.zeros(len(RECALL_POINTS))
    indices = np.searchsorted(recall, RECALL_POINTS, side="left")
    valid = indices < len(precision)
    points[valid] = precision[indices[valid]]
    return points, float(recall[-1]) if len(recall) else 0.0


def _voc_ap(tp: np.ndarray, fp: np.ndarray, num_gt: int, method: str) -> float:
    """DOTA devkit voc_ap: 11-point (voc07) or the area under the precision envelope (voc12)."""
    tp_sum, fp_sum = np.cumsum(tp, dtype=np.float64), np.cumsum(fp, dtype=np.float64)
    recall = tp_sum / num_gt
    precision = tp_sum / np.maximum(tp_sum + fp_sum, np.finfo(np.float64).eps)
    if method == "voc07":
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            ap += (float(np.max(precision[recall >= t])) if np.any(recall >= t) else 0.0) / 11.0
        return ap
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    change = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[change + 1] - mrec[change]) * mpre[change + 1]))


def _dota_class(images: list[ImageData], label: int, method: str) -> float | None:
    """DOTA voc_eval at IoU > 0.5 for one class; None when the class has no care ground truth."""
    scores, image_of, det_index = [], [], []
    num_gt = 0
    for i, img in enumerate(images):
        num_gt += int(np.sum((img.gt_labels == label) & ~img.gt_difficult))
        for d in np.flatnonzero(img.det_labels == label):
            scores.append(img.det_scores[d])
            image_of.append(i)
            det_index.append(d)
    if num_gt == 0:
        return None
    order = np.argsort(-np.asarray(scores, np.float64), kind="mergesort")
    taken = {i: np.zeros(int(np.sum(img.gt_labels == label)), bool) for i, img in enumerate(images)}
    ious_cache: dict[int, np.ndarray] = {}
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for rank, k in enumerate(order):
        i, d = image_of[k], det_index[k]
        img = images[i]
        gt_mask = img.gt_labels == label
        if i not in ious_cache:
            ious_cache[i] = quad_iou_matrix(img.det_quads, img.gt_quads[gt_mask])
        ious = ious_cache[i][d]
        if len(ious) == 0 or ious.max() <= 0.5:
            fp[rank] = 1
            continue
        g = int(np.argmax(ious))
        if img.gt_difficult[gt_mask][g]:
            continue
        if taken[i][g]:
            fp[rank] = 1
        else:
            taken[i][g] = True
            tp[rank] = 1
    return _voc_ap(tp, fp, num_gt, method)


def evaluate(images: list[ImageData], class_names: dict[int, str] | None = None, max_detections: int = 100,
             voc: str = "none") -> dict:
    """COCO-style AP over IoU 0.50:0.95 (`mAP`), at 0.50 (`mAP_50`) and 0.75 (`mAP_75`), the same per class
    (`per_class`), and `AR_<max_detections>`; with `voc` in VOC_METHODS also DOTA-style AP50 (`mAP_50_<voc>`).
    Classes are the labels of the ground truth and the detections; one without care ground truth has AP None
    and stays out of the means. `pr_curves` holds each class's 101-point interpolated precision at IoU 0.5."""
    if voc not in ("none",) + VOC_METHODS:
        raise ValueError(f"unknown VOC method {voc!r}; choose none, {', '.join(VOC_METHODS)}")
    labels = sorted({int(v) for img in images for v in np.concatenate([img.gt_labels, img.det_labels])})
    thresholds = np.asarray(IOU_THRESHOLDS)
    precision = np.full((len(thresholds), len(RECALL_POINTS), len(labels)), -1.0)
    final_recall = np.full((len(thresholds), len(labels)), -1.0)
    per_class, pr_curves = {}, {}
    for c, label in enumerate(labels):
        scores, matched, ignored = [], [], []
        num_gt = 0
        num_det = 0
        for img in images:
            gt_ids = np.flatnonzero(img.gt_labels == label)
            gt_ids = gt_ids[np.argsort(img.gt_difficult[gt_ids], kind="mergesort")]  # ignored ground truth last
            det_ids = np.flatnonzero(img.det_labels == label)
            det_ids = det_ids[np.argsort(-img.det_scores[det_ids], kind="mergesort")][:max_detections]
            num_gt += int(np.sum(~img.gt_difficult[gt_ids]))
            num_det += len(det_ids)
            if len(det_ids) == 0:
                continue
            ious = quad_iou_matrix(img.det_quads[det_ids], img.gt_quads[gt_ids])
            m, ig = _match_image(ious, img.gt_difficult[gt_ids], thresholds)
            scores.append(img.det_scores[det_ids])
            matched.append(m)
            ignored.append(ig)
        name = (class_names or {}).get(label, str(label))
        entry = {"label": label, "name": name, "num_gt": num_gt, "num_det": num_det, "AP": None, "AP50": None, "AP75": None}
        if num_gt > 0:
            if scores:
                order = np.argsort(-np.concatenate(scores), kind="mergesort")
                m, ig = np.concatenate(matched, axis=1)[:, order], np.concatenate(ignored, axis=1)[:, order]
            else:
                m = ig = np.zeros((len(thresholds), 0), bool)
            for t in range(len(thresholds)):
                keep = ~ig[t]
                precision[t, :, c], final_recall[t, c] = _interpolated_precision(m[t][keep], ~m[t][keep], num_gt)
            entry["AP"] = float(np.mean(precision[:, :, c]))
            entry["AP50"] = float(np.mean(precision[0, :, c]))
            entry["AP75"] = float(np.mean(precision[5, :, c]))
            entry[f"AR_{max_detections}"] = float(np.mean(final_recall[:, c]))
            if voc != "none":
                entry[f"AP50_{voc}"] = _dota_class(images, label, voc)
            pr_curves[name] = precision[0, :, c].tolist()
        per_class[name] = entry

    def mean(values) -> float:
        values = np.asarray(values, np.float64)
        values = values[values > -1]
        return float(np.mean(values)) if values.size else -1.0

    summary = {
        "mAP": mean(precision), "mAP_50": mean(precision[0]), "mAP_75": mean(precision[5]),
        f"AR_{max_detections}": mean(final_recall), "iou_thresholds": [float(t) for t in thresholds],
        "max_detections": max_detections, "per_class": per_class, "pr_curves": pr_curves,
    }
    if voc != "none":
        voc_values = [e[f"AP50_{voc}"] for e in per_class.values() if e.get(f"AP50_{voc}") is not None]
        summary[f"mAP_50_{voc}"] = float(np.mean(voc_values)) if voc_values else -1.0
    return summary


def images_from_samples(samples, results) -> tuple[list[ImageData], dict[int, str]]:
    """Runner samples (ground truth) and detection dicts (quads, scores, classes) -> ImageData, label names."""
    images, names = [], {}
    for sample, result in zip(samples, results):
        ignore = [bool(d) or bool(c) for d, c in zip(sample.difficult, sample.is_crowd)]
        images.append(ImageData(sample.quads, sample.labels, ignore, result["quads"], result["scores"], result["classes"]))
        for label, name in zip(sample.labels, sample.class_names):
            names.setdefault(int(label), name or str(label))
    return images, names


def table_markdown(summary: dict) -> str:
    """Per-class AP table (markdown) with the means as the last row."""
    voc_key = next((k[len("mAP_50_"):] for k in summary if k.startswith("mAP_50_voc")), None)
    header = ["class", "label", "ground truth", "detections", "AP", "AP50", "AP75"] + ([f"AP50 ({voc_key})"] if voc_key else [])

    def cell(value) -> str:
        return "n/a" if value is None or value < 0 else f"{100 * value:.1f}"

    rows = []
    for entry in sorted(summary["per_class"].values(), key=lambda e: e["label"]):
        row = [entry["name"], str(entry["label"]), str(entry["num_gt"]), str(entry["num_det"]),
               cell(entry["AP"]), cell(entry["AP50"]), cell(entry["AP75"])]
        if voc_key:
            row.append(cell(entry.get(f"AP50_{voc_key}")))
        rows.append(row)
    total = ["**mean**", "", str(sum(e["num_gt"] for e in summary["per_class"].values())),
             str(sum(e["num_det"] for e in summary["per_class"].values())),
             cell(summary["mAP"]), cell(summary["mAP_50"]), cell(summary["mAP_75"])]
    if voc_key:
        total.append(cell(summary[f"mAP_50_{voc_key}"]))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows + [total]]
    return "\n".join(lines) + "\n"


def plot_pr_curves(path: str, summary: dict, title: str = "Precision-recall per class at IoU 0.5"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
    cmap = plt.get_cmap("tab10" if len(summary["pr_curves"]) <= 10 else "tab20")
    for i, (name, curve) in enumerate(summary["pr_curves"].items()):
        ap = summary["per_class"][name]["AP50"]
        ax.plot(RECALL_POINTS, curve, "-", color=cmap(i % cmap.N), label=f"{name} (AP50 {100 * ap:.1f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("interpolated precision")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if summary["pr_curves"]:
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def score_and_write(samples, results, output_dir: str, voc: str = "none", max_detections: int = 100) -> dict:
    """The runner's `coco_quad` protocol: score, write `per_class_ap.md` and `pr_curves.png` into output_dir."""
    images, names = images_from_samples(samples, results)
    summary = {"protocol": "coco_quad", **evaluate(images, names, max_detections, voc)}
    os.makedirs(output_dir, exist_ok=True)
    table_path = os.path.join(output_dir, "per_class_ap.md")
    with open(table_path, "w", encoding="utf-8") as f:
        f.write(table_markdown(summary))
    pr_path = os.path.join(output_dir, "pr_curves.png")
    plot_pr_curves(pr_path, summary)
    summary["per_class_table"] = table_path
    summary["pr_curve"] = pr_path
    return summary
