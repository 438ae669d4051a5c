"""Accuracy on real photographs, ours against PP-OCRv6's small text detector on the same images in the
same run, each scored by tfdet's ICDAR 2015 evaluator (IoU >= 0.5 on quads, the official script's rules).

    python bench/real_photos.py --model=models/scene_text_effl0 [--data=../shared/data] [--sets=...]

Sets (each skipped with a message when its data is absent):
- `icdar2015_val`: the 100 ICDAR 2015 training photographs of configs/icdar2015_val.txt, from the
  960x640 copy in DATA/icdar2015_train960 resized back to 1280x720 (as the training records are);
- `icdar2015_test5`: the 5 official test photographs in DATA/icdar2015/test (1280x720, never trained on);
- `msra_td500_val`: MSRA-TD500 validation photographs (the hash split of --split_part=val), **line** level:
  a word detector is scored against lines here (a line found as several words counts as misses).

Per set: ours at the model's own score threshold and the best Hmean of the threshold sweep, PP-OCRv6 at
its own operating point (every box it returns) and its best sweep, and `ratio` = our Hmean / PP-OCR's.
The last line is one JSON object (`ratio`: the smallest of the per-set ratios at the operating points).

`--examples=DIR --example_images=img_3,img_21` draws those photographs of the sets with our detections at
the model's threshold (blue, with scores) and the ground truth coloured by outcome (green found, red missed,
grey don't care): the pictures of a model card's known failures (`DIR/<set>_<image>.png`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETS = ("icdar2015_val", "icdar2015_test5", "msra_td500_val")


def load_set(name: str, data: str, max_images: int = 0):
    """Samples of a named set (its first `max_images`; 0: all), or None when its data is not there."""
    from tfdet.datasets import get_reader
    from tfdet.datasets.resized import ResizedReader

    if name == "icdar2015_val":
        root = os.path.join(data, "icdar2015_train960")
        if not os.path.isdir(root):
            return None
        reader = ResizedReader(get_reader("icdar2015", image_dir=os.path.join(root, "images"), annotations=os.path.join(root, "gt"),
                                          split="val", split_part="val",
                                          val_list=os.path.join(REPO, "configs", "icdar2015_val.txt")), 1280, 720)
    elif name == "icdar2015_test5":
        root = os.path.join(data, "icdar2015", "test")
        if not os.path.isdir(root):
            return None
        reader = get_reader("icdar2015", image_dir=os.path.join(root, "images"), annotations=os.path.join(root, "gt"), split="test")
    elif name == "msra_td500_val":
        root = os.path.join(data, "msra_td500", "train")
        if not os.path.isdir(root):
            return None
        reader = get_reader("msra_td500", image_dir=os.path.join(root, "images"), annotations=os.path.join(root, "gt"),
                            split="val", split_part="val")
    else:
        raise ValueError(f"unknown set {name!r}; choose from {', '.join(SETS)}")
    items = reader.items()
    samples = [reader.load(item)[0] for item in (items[:max_images] if max_images else items)]
    return [s for s in samples if s is not None]


def score(detector, samples, threshold: float, out: str) -> dict:
    from tfdet.evaluation.runner import evaluate_detector

    summary = evaluate_detector(detector, samples, "icdar2015", out, threshold, progress=False, pictures=0)
    best = summary["best"]
    return {"precision": round(summary["precision"], 4), "recall": round(summary["recall"], 4),
            "hmean": round(summary["hmean"], 4), "threshold": threshold, "best_sweep_hmean": round(best["hmean"], 4),
            "best_sweep_threshold": best["score_threshold"], "images_per_second": summary["images_per_second"]}


def draw_examples(detector, loaded: dict, args, threshold: float):
    """Pictures of the --example_images among the samples scored (`loaded`: set name -> samples)."""
    import cv2

    from tfdet.visualize import found_missed_picture, save_png

    wanted = [n.strip() for n in args.example_images.split(",") if n.strip()]
    os.makedirs(args.examples, exist_ok=True)
    drawn = set()
    for name, samples in loaded.items():
        for sample in samples:
            stem = os.path.splitext(os.path.basename(sample.filename))[0]
            if stem not in wanted:
                continue
            out = detector.detect_encoded([sample.image])
            keep = out["detection_scores"][0] >= threshold
            quads = out["detection_quads"][0][keep].reshape(-1, 4, 2)
            image, counts = found_missed_picture(sample, quads, out["detection_scores"][0][keep])
            scale = args.example_size / max(image.shape[:2])
            if scale < 1:  # smaller files for a model folder; the quads were drawn at full resolution
                image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
            path = os.path.join(args.examples, f"{name.split('_')[-1]}_{stem}.png")
            save_png(path, image)
            drawn.add(stem)
            print(f"{path}: {counts['found']} words found, {counts['missed']} missed, {counts['detections']} detections",
                  file=sys.stderr)
    for stem in sorted(set(wanted) - drawn):
        print(f"example {stem}: not among the images scored (sets {args.sets}, --max_images={args.max_images})", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="shipped model folder, SavedModel export or run folder")
    parser.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data"))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max_images", type=int, default=0, help="only the first N images of each set (0: all)")
    parser.add_argument("--no_peer", action="store_true", help="ours only (no PP-OCR)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="our score threshold (default: a SavedModel's own, exported one; 0.5 for a run folder)")
    parser.add_argument("--examples", default="", help="folder for pictures of --example_images (found/missed words)")
    parser.add_argument("--example_images", default="", help="comma-separated image names (stems) to draw")
    parser.add_argument("--example_size", type=int, default=1024, help="longer side of the example pictures (px)")
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    from tfdet.benchmark import PpocrDetector, report
    from tfdet.postprocess import PostprocessConfig
    from tfdet.serving.export import load_detector

    ours = load_detector(args.model, PostprocessConfig(score_threshold=0.05), requested=())  # a SavedModel keeps its own
    own = getattr(ours, "score_floor", None)  # SavedModels only: the threshold they were exported with
    threshold = args.threshold if args.threshold is not None else (own if own is not None else 0.5)
    missing = "--no_peer" if args.no_peer else PpocrDetector.available()
    peer = None if missing else PpocrDetector(args.threads)
    if missing:
        print(f"peer skipped: {missing}", file=sys.stderr)
    rows, loaded, work = {}, {}, tempfile.mkdtemp(prefix="tfdet_bench_real_")
    for name in args.sets.split(","):
        samples = load_set(name, args.data, args.max_images)
        if not samples:
            print(f"{name}: skipped, its data is not under {args.data}", file=sys.stderr)
            continue
        loaded[name] = samples
        row = {"images": len(samples), "ours": score(ours, samples, threshold, os.path.join(work, name, "ours"))}
        if peer is not None:
            row["ppocr_v6_small_det"] = score(peer, samples, 0.0, os.path.join(work, name, "ppocr"))
            theirs = row["ppocr_v6_small_det"]["hmean"]
            row["ratio"] = round(row["ours"]["hmean"] / theirs, 3) if theirs else None
        rows[name] = row
        peer_text = (f"   PP-OCRv6 small: P {row['ppocr_v6_small_det']['precision']:.3f} R {row['ppocr_v6_small_det']['recall']:.3f} "
                     f"H {row['ppocr_v6_small_det']['hmean']:.3f} (sweep {row['ppocr_v6_small_det']['best_sweep_hmean']:.3f})"
                     if peer is not None else "")
        o = row["ours"]
        print(f"{name:16s} {len(samples):4d} images  ours: P {o['precision']:.3f} R {o['recall']:.3f} H {o['hmean']:.3f} "
              f"at {threshold:.2f} (sweep {o['best_sweep_hmean']:.3f} at {o['best_sweep_threshold']}){peer_text}", file=sys.stderr)
    ratios = [r["ratio"] for r in rows.values() if r.get("ratio")]
    if args.examples:
        draw_examples(ours, loaded, args, threshold)
    report({"bench": "real_photos", "model": args.model, "threshold": threshold, "sets": rows,
            "ratio": min(ratios) if ratios else None})


if __name__ == "__main__":
    main()
