"""Run a detector over a dataset and score it: ICDAR 2015 / 2013 files and numbers, COCO mAP,
score sweep, PR curve, per-image results.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import numpy as np

from tfdet import geometry
from tfdet.evaluation import coco as coco_eval
from tfdet.evaluation import default_nms_iou, is_coco_protocol
from tfdet.evaluation import files as eval_files
from tfdet.evaluation import icdar2013, icdar2015, quad_map

SWEEP = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2))


def sample_key(sample, index: int) -> str:
    """ICDAR id of a sample: N of img_N / gt_img_N, else its position (1-based)."""
    return _file_key(sample.filename, index)


def _file_key(filename: str, index: int) -> str:
    stem = os.path.splitext(os.path.basename(filename))[0]
    m = re.search(r"(\d+)$", stem)
    return m.group(1) if m else str(index + 1)


def detect_samples(detector, samples, batch_size: int = 8, progress: bool = True):
    """-> list of dict(quads (K, 4, 2), boxes (K, 4) yxyx, scores (K,), classes (K,)) in original pixels."""
    from tqdm import tqdm

    results = []
    with tqdm(total=len(samples), desc="detect", unit="img", disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        for start in range(0, len(samples), batch_size):
            chunk = samples[start:start + batch_size]
            out = detector.detect_encoded([s.image for s in chunk])
            for i in range(len(chunk)):
                n = int(out["num_detections"][i])
                results.append({
                    "quads": out["detection_quads"][i, :n].reshape(n, 4, 2).astype(np.float64),
                    "boxes": out["detection_boxes"][i, :n].astype(np.float64),
                    "scores": out["detection_scores"][i, :n].astype(np.float64),
                    "classes": out["detection_classes"][i, :n].astype(np.int64),
                })
            bar.update(len(chunk))
    return results


def integer_quads(quads) -> tuple[list, int]:
    """Float quads [K, 4, 2] -> (rows of 8 integer pixels, or None for a quad with a non-finite
    coordinate; how many were ordered again). Rounding can turn a thin quad counter-clockwise or
    crossed, which the official script rejects or scores by its lobes: such a quad is put back in
    the canonical order by `geometry.order_quad`. Zero-area quads are kept: the script scores them."""
    rows, reordered = [], 0
    for quad in np.asarray(quads, np.float64).reshape(-1, 4, 2):
        if not np.all(np.isfinite(quad)):
            rows.append(None)
            continue
        quad = np.round(quad)
        if not eval_files.is_clockwise(quad.reshape(-1)) or geometry.is_self_intersecting(quad):
            quad = geometry.order_quad(quad)
            reordered += 1
        rows.append([int(v) for v in quad.reshape(-1)])
    return rows, reordered


def _gt_rects_int(sample) -> list[list[int]]:
    return [[int(round(q[:, 0].min())), int(round(q[:, 1].min())), int(round(q[:, 0].max())), int(round(q[:, 1].max()))]
            for q in sample.quads]


def _det_rects_int(result) -> list:
    """Detection boxes (ymin, xmin, ymax, xmax) as integer xmin, ymin, xmax, ymax; None where not finite."""
    return [[int(round(b[1])), int(round(b[0])), int(round(b[3])), int(round(b[2]))] if np.all(np.isfinite(b)) else None
            for b in result["boxes"]]


def _gt_lines(sample, coords_list) -> str:
    """RRC ground-truth file text: integer coordinates, transcription (### for don't care), CRLF.
    Rows whose coordinates are None (non-finite) are left out."""
    lines = []
    for coords, text, dc in zip(coords_list, sample.texts, sample.difficult):
        if coords is None:
            continue
        t = "###" if dc else (text.replace("\n", " ") or "text")
        lines.append(",".join(str(v) for v in coords) + "," + t)
    return "".join(line + "\r\n" for line in lines)


def _write_text(path: str, text: str | bytes):
    with open(path, "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode("utf-8"))


def official_ground_truth(protocol: str, dataset: str | None, image_dir: str | None, annotations: str | None):
    """{image file name: bytes of its gt file} when the data is an ICDAR folder (or zip) in the protocol's
    own format, so that the runner scores the ground truth as the official script reads those files
    (not as the reader repaired, re-ordered and clipped them); None otherwise."""
    if dataset != protocol or protocol not in ("icdar2015", "icdar2013") or not annotations:
        return None
    from tfdet.datasets import get_reader

    reader = get_reader(dataset, image_dir=image_dir, annotations=annotations)
    files = {os.path.basename(path): reader.source.read(name) for name, path in reader.items() if path}
    if protocol == "icdar2015":  # a line the script rejects fails here, before any detection runs
        for i, (filename, raw) in enumerate(files.items()):
            icdar2015.read_gt_file(raw, _file_key(filename, i))
    return files


def _log_stderr(message: str):
    print(message, file=sys.stderr)


def score_icdar(samples, results, protocol: str, output_dir: str, score_threshold: float, write_files: bool = True,
                gt_files: dict | None = None, log=_log_stderr, score_floor: float = 0.0) -> dict:
    """Write gt/ and results/ (RRC layout) + submit.zip, and score them. The sweep covers SWEEP
    plus `score_threshold`, whose point gives the reported precision, recall and Hmean.

    `gt_files` ({image file name: gt file bytes}, from `official_ground_truth`) makes the ground
    truth of those images the files themselves, read as the official script reads them; other
    ground truth is written from the samples. Detections are written in the canonical order after
    rounding (`integer_quads`); what had to be re-ordered or dropped is counted in the summary
    (`quads`) and logged. Sweep points below `score_floor` (the detector drops lower scores itself,
    e.g. a SavedModel) are left out, as they would only repeat the floor's numbers."""
    keys = [sample_key(s, i) for i, s in enumerate(samples)]
    if len(set(keys)) != len(keys):
        keys = [str(i + 1) for i in range(len(samples))]
    thresholds = sorted(set(float(t) for t in SWEEP if t >= score_floor) | {float(score_threshold)})
    gt_dir = os.path.join(output_dir, "gt")
    res_dir = os.path.join(output_dir, "results")
    if write_files:
        os.makedirs(gt_dir, exist_ok=True)
        os.makedirs(res_dir, exist_ok=True)
        for old in os.listdir(res_dir):
            os.remove(os.path.join(res_dir, old))
    gt_files = gt_files or {}
    counts = {"detections": 0, "reordered_detections": 0, "dropped_non_finite_detections": 0, "reordered_ground_truth": 0,
              "dropped_non_finite_ground_truth": 0, "ground_truth_from_files": 0, "ground_truth_from_samples": 0}
    if protocol == "icdar2015":
        images = {}
        for key, sample, result in zip(keys, samples, results):
            det_quads, reordered = integer_quads(result["quads"])
            counts["reordered_detections"] += reordered
            rows = [(c, float(sc)) for c, sc in zip(det_quads, result["scores"]) if c is not None]
            counts["dropped_non_finite_detections"] += len(det_quads) - len(rows)
            counts["detections"] += len(rows)
            if sample.filename in gt_files:
                gt_text = gt_files[sample.filename]
                gt_quads, dont_care = icdar2015.read_gt_file(gt_text, key)
                counts["ground_truth_from_files"] += 1
            else:
                all_gt, reordered = integer_quads(sample.quads)
                counts["reordered_ground_truth"] += reordered
                gt_quads = [c for c in all_gt if c is not None]
                dont_care = [dc for c, dc in zip(all_gt, sample.difficult) if c is not None]
                counts["dropped_non_finite_ground_truth"] += len(all_gt) - len(gt_quads)
                gt_text = _gt_lines(sample, all_gt)
                counts["ground_truth_from_samples"] += 1
            images[key] = icdar2015.ImageData(gt_quads, dont_care, [c for c, _ in rows], [sc for _, sc in rows])
            if write_files:
                _write_text(os.path.join(gt_dir, f"gt_img_{key}.txt"), gt_text)
                eval_files.write_results(res_dir, key, [r for r in rows if r[1] >= score_threshold])
        sweep = icdar2015.evaluate(images, thresholds)["sweep"]
    else:
        dets = {}
        for key, sample, result in zip(keys, samples, results):
            rects = _det_rects_int(result)
            kept = [(r, float(sc)) for r, sc in zip(rects, result["scores"]) if r is not None]
            counts["dropped_non_finite_detections"] += len(rects) - len(kept)
            counts["detections"] += len(kept)
            gt_rects = gt_text = None
            if sample.filename in gt_files:
                try:
                    gt_rects, dont_care = icdar2013.read_gt_file(gt_files[sample.filename], key)
                    gt_text = gt_files[sample.filename]
                except eval_files.EvaluationFormatError as exc:  # e.g. the raw training form `xmin ymin xmax ymax "text"`
                    log(f"note: {exc}: not the official file format, ground truth of {sample.filename} taken from the reader")
            if gt_rects is None:
                gt_rects, dont_care = _gt_rects_int(sample), list(sample.difficult)
                gt_text = _gt_lines(sample, gt_rects)
                counts["ground_truth_from_samples"] += 1
            else:
                counts["ground_truth_from_files"] += 1
            dets[key] = (gt_rects, dont_care, [r for r, _ in kept], [sc for _, sc in kept])
            if write_files:
                _write_text(os.path.join(gt_dir, f"gt_img_{key}.txt"), gt_text)
                written = [r for r, sc in kept if sc >= score_threshold]
                _write_text(os.path.join(res_dir, f"res_img_{key}.txt"), "".join(",".join(map(str, r)) + "\r\n" for r in written))
        sweep = []
        for t in thresholds:
            sub = {k: (g, d, [r for r, sc in zip(rects, scores) if sc >= t]) for k, (g, d, rects, scores) in dets.items()}
            sweep.append({"score_threshold": t, **{k: v for k, v in icdar2013.evaluate(sub).items() if k in ("precision", "recall", "hmean")}})
    at = next(s for s in sweep if s["score_threshold"] == float(score_threshold))
    summary = {"protocol": protocol, "score_threshold": score_threshold, "precision": at["precision"], "recall": at["recall"],
               "hmean": at["hmean"], "sweep": sweep, "best": max(sweep, key=lambda s: (s["hmean"], -s["score_threshold"])),
               "quads": counts}
    if any(counts[k] for k in ("reordered_detections", "dropped_non_finite_detections", "reordered_ground_truth",
                               "dropped_non_finite_ground_truth")):
        log(f"{protocol}: of {counts['detections'] + counts['dropped_non_finite_detections']} detections, "
            f"{counts['reordered_detections']} re-ordered after rounding to integer pixels and "
            f"{counts['dropped_non_finite_detections']} dropped (non-finite coordinates); ground truth: "
            f"{counts['reordered_ground_truth']} quads re-ordered, {counts['dropped_non_finite_ground_truth']} dropped (non-finite)")
    if write_files:
        eval_files.zip_folder(res_dir, os.path.join(output_dir, "submit.zip"))
    return summary


def score_coco(samples, results, category_ids: dict | None = None) -> dict:
    gt_images, dets = [], []
    for i, (sample, result) in enumerate(zip(samples, results)):
        image_id = int(sample.source_id) if str(sample.source_id).isdigit() else i + 1
        anns = []
        for quad, label, crowd, area in zip(sample.quads, sample.labels, sample.is_crowd, sample.areas):
            x0, y0 = float(quad[:, 0].min()), float(quad[:, 1].min())
            anns.append({"bbox": [x0, y0, float(quad[:, 0].max()) - x0, float(quad[:, 1].max()) - y0],
                         "category_id": (category_ids or {}).get(label, label), "iscrowd": int(crowd), "area": float(area)})
        gt_images.append({"id": image_id, "height": sample.height, "width": sample.width, "annotations": anns})
        for box, score, label in zip(result["boxes"], result["scores"], result["classes"]):
            dets.append({"image_id": image_id, "category_id": (category_ids or {}).get(int(label), int(label)),
                         "bbox": [float(box[1]), float(box[0]), float(box[3] - box[1]), float(box[2] - box[0])], "score": float(score)})
    return {"protocol": "coco", **coco_eval.evaluate(gt_images, dets)}


def write_pictures(samples, results, folder: str, score_threshold: float, count: int = 8):
    from tfdet import visualize

    os.makedirs(folder, exist_ok=True)
    paths = []
    for sample, result in list(zip(samples, results))[:count]:
        image = visualize.sample_picture(sample, with_text=False)
        keep = result["scores"] >= score_threshold
        image = visualize.draw_quads(image, result["quads"][keep], [visualize.PRED_COLOR] * int(keep.sum()),
                                     [f"{s:.2f}" for s in result["scores"][keep]])
        path = os.path.join(folder, os.path.splitext(os.path.basename(sample.filename))[0] + "_pred.png")
        visualize.save_png(path, image)
        paths.append(path)
    return paths


def evaluate_detector(detector, samples, protocol: str, output_dir: str, score_threshold: float = 0.5,
                      batch_size: int = 8, progress: bool = True, pictures: int = 8, gt_files: dict | None = None,
                      dota_ap: str = "none") -> dict:
    """Detect, score, write summary.json (+ RRC files, submit.zip, PR curve, pictures). `gt_files`:
    see `score_icdar`. `dota_ap`: none, voc07 or voc12 (coco_quad)."""
    from tfdet import visualize

    score_floor = float(getattr(detector, "score_floor", 0.0))
    if score_threshold < score_floor - 1e-9:
        raise ValueError(f"the detector keeps detections scoring above {score_floor} only (exported threshold): "
                         f"--score_threshold={score_threshold} cannot be reported; export with a lower --score_threshold")
    os.makedirs(output_dir, exist_ok=True)
    start = time.time()
    results = detect_samples(detector, samples, batch_size, progress)
    detect_seconds = time.time() - start
    if protocol in ("icdar2015", "icdar2013"):
        summary = score_icdar(samples, results, protocol, output_dir, score_threshold, gt_files=gt_files,
                              score_floor=score_floor)
        recalls = [s["recall"] for s in summary["sweep"]]
        precisions = [s["precision"] for s in summary["sweep"]]
        pr_path = os.path.join(output_dir, "pr_curve.png")
        visualize.plot_pr_curve(pr_path, recalls, precisions, summary["best"], title=f"{protocol}: precision-recall over score thresholds")
        summary["pr_curve"] = pr_path
    elif protocol == "coco":
        summary = score_coco(samples, results)
    elif protocol == "coco_quad":
        summary = quad_map.score_and_write(samples, results, output_dir, voc=dota_ap)
    else:
        raise ValueError(f"unknown protocol {protocol!r}")
    if score_floor > 0:
        summary["score_floor"] = score_floor
    summary["images"] = len(samples)
    summary["detect_seconds"] = round(detect_seconds, 2)
    summary["images_per_second"] = round(len(samples) / max(detect_seconds, 1e-9), 2)
    if pictures:
        summary["pictures"] = write_pictures(samples, results, os.path.join(output_dir, "pictures"), score_threshold, pictures)
    with open(os.path.join(output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(output_dir, "detections.jsonl"), "w") as f:
        for sample, result in zip(samples, results):
            f.write(json.dumps({"filename": sample.filename, "quads": np.round(result["quads"], 2).tolist(),
                                "scores": np.round(result["scores"], 4).tolist(), "classes": result["classes"].tolist()}) + "\n")
    return summary


def load_samples(records: str | None = None, dataset: str | None = None, image_dir: str | None = None,
                 annotations: str | None = None, log=print):
    """Ground truth from records or from a raw dataset folder."""
    if records:
        from tfdet.records.codec import read_samples

        return list(read_samples(records))
    from tfdet.datasets import get_reader

    reader = get_reader(dataset, image_dir=image_dir, annotations=annotations)
    samples = []
    for item in reader.items():
        sample, problems = reader.load(item)
        for p in problems:
            if p.fatal:
                log(f"warning: {p}")
        if sample is not None:
            samples.append(sample)
    return samples


def make_training_evaluator(config, val_records: str, model_dir: str, score_threshold: float = 0.5):
    """Callable for the trainer: scores the in-memory model by the run's protocol (`config.eval_protocol`) and keeps
    pictures for TensorBoard. The record files are listed now (a glob without files fails before training); they
    are read at the first evaluation, on the chief: reading starts TensorFlow, which must not happen before a
    multi-worker strategy is built (its collectives are configured at start-up)."""
    import tensorflow as tf

    from tfdet.postprocess import PostprocessConfig
    from tfdet.records.codec import iter_record_files
    from tfdet.serving.module import DetectorModule

    iter_record_files(val_records)
    protocol = config.eval_protocol
    samples = []

    def evaluator(model, step):
        if not samples:
            samples.extend(load_samples(records=val_records))
        post = PostprocessConfig(classification_loss=config.model.classification_loss, nms_iou_threshold=default_nms_iou(protocol))
        module = DetectorModule(model, config.anchors, config.coder, post, config.evaluation_size)
        out_dir = os.path.join(model_dir, "eval", f"step_{step}")
        summary = evaluate_detector(module, samples, protocol, out_dir, score_threshold, progress=False, pictures=4)
        writer = tf.summary.create_file_writer(os.path.join(model_dir, "eval"))
        with writer.as_default(step=step):
            for path in summary.get("pictures", [])[:4]:
                image = tf.io.decode_png(tf.io.read_file(path))[None]
                tf.summary.image(f"predictions/{os.path.basename(path)}", image)
        coco_like = is_coco_protocol(protocol)
        keys = ("mAP", "mAP_50") if coco_like else ("hmean", "precision", "recall")
        out = {k: float(summary[k]) for k in keys}
        if not coco_like:
            out["best_sweep_hmean"] = float(summary["best"]["hmean"])
            out["best_sweep_threshold"] = float(summary["best"]["score_threshold"])
        return out

    return evaluator
