"""Sharded, parallel, atomic TFRecord writer with dataset.json statistics.

Shards are written as `.<split>-NNNNN-of-NNNNN.tfrecord.tmp` and renamed only
after every shard is complete, so a killed conversion never leaves a shard
that looks finished. Samples go round-robin to shards in source order, so the
content is the same for the same input and flags whatever `num_workers` is.
"""

from __future__ import annotations

import glob
import json
import multiprocessing
import os
import sys

import numpy as np

from tfdet import keys
from tfdet.datasets.base import Problem, Sample

MAX_BOX_SAMPLES = 20000


class StrictError(RuntimeError):
    """--strict found bad input; nothing was written."""


def shard_name(split: str, index: int, num_shards: int) -> str:
    return f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"


_WORKER_READER = None


def _init_worker(reader):
    global _WORKER_READER
    _WORKER_READER = reader


def _load_in_worker(item):
    try:
        return _WORKER_READER.load(item)
    except Exception as exc:  # a reader bug on one item must not kill the run
        return None, [Problem("skipped_file", str(item)[:200], f"reader failed: {type(exc).__name__}: {exc}")]


def iter_loaded(reader, items, num_workers: int):
    """Yield (sample or None, problems) for every item, in item order."""
    if num_workers <= 1:
        _init_worker(reader)
        for item in items:
            yield _load_in_worker(item)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(num_workers, initializer=_init_worker, initargs=(reader,)) as pool:
        yield from pool.imap(_load_in_worker, items, chunksize=4)


class Statistics:
    """Counts, skips and box statistics for dataset.json."""

    def __init__(self):
        self.images = 0
        self.objects = 0
        self.dont_care = 0
        self.images_without_objects = 0
        self.problems: list[Problem] = []
        self.label_map: dict[str, int] = {}
        self.box_rows: list[tuple[float, float, int, int]] = []
        self.seen_boxes = 0
        self._rng = np.random.default_rng(0)

    def add(self, sample: Sample):
        self.images += 1
        self.objects += sample.num_objects
        self.dont_care += int(sum(sample.difficult))
        if sample.num_objects == 0:
            self.images_without_objects += 1
        for name, label in zip(sample.class_names, sample.labels):
            self.label_map.setdefault(name, int(label))
        for quad, difficult in zip(sample.quads, sample.difficult):
            if difficult:
                continue
            w = float(quad[:, 0].max() - quad[:, 0].min())
            h = float(quad[:, 1].max() - quad[:, 1].min())
            self.seen_boxes += 1
            row = (round(w, 2), round(h, 2), sample.width, sample.height)
            if len(self.box_rows) < MAX_BOX_SAMPLES:
                self.box_rows.append(row)
            else:  # reservoir sampling, seeded: same input, same sample
                slot = int(self._rng.integers(0, self.seen_boxes))
                if slot < MAX_BOX_SAMPLES:
                    self.box_rows[slot] = row

    def box_summary(self) -> dict:
        if not self.box_rows:
            return {"count": 0}
        arr = np.asarray(self.box_rows, dtype=np.float64)
        w, h = np.maximum(arr[:, 0], 1e-6), np.maximum(arr[:, 1], 1e-6)
        pct = (1, 5, 25, 50, 75, 95, 99)

        def p(values):
            return {f"p{q}": round(float(np.percentile(values, q)), 3) for q in pct}

        return {
            "count": int(self.seen_boxes),
            "width_px": p(w),
            "height_px": p(h),
            "sqrt_area_px": p(np.sqrt(w * h)),
            "aspect_ratio_w_over_h": p(w / h),
            "samples_w_h_imgw_imgh": [list(r) for r in self.box_rows],
        }

    def to_json(self) -> dict:
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.kind] = counts.get(problem.kind, 0) + 1
        return {
            "images": self.images,
            "objects": self.objects,
            "dont_care": self.dont_care,
            "images_without_objects": self.images_without_objects,
            "problem_counts": counts,
            "problems": [p.to_json() for p in self.problems],
            "boxes": self.box_summary(),
        }


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def validate(reader, items, num_workers: int, progress: bool) -> list[Problem]:
    problems: list[Problem] = []
    with _progress(len(items), "checking", progress) as bar:
        for _sample, item_problems in iter_loaded(reader, items, num_workers):
            problems.extend(p for p in item_problems if p.fatal)
            bar.update(1)
    return problems


def _write_json_atomic(path: str, data: dict):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


def convert(
    reader,
    output_dir: str,
    split: str = "train",
    num_shards: int = 16,
    num_workers: int = 1,
    strict: bool = False,
    progress: bool = True,
    dataset_name: str | None = None,
    log=print,
) -> dict:
    """Read every item of `reader` and write sharded records + dataset.json.

    Returns the split's statistics (also written to dataset.json). Problems are
    reported through `log` as they happen and recorded in dataset.json.
    """
    import tensorflow as tf

    from tfdet.records.codec import sample_to_example

    if num_shards < 1:
        raise ValueError("--num_shards must be at least 1")
    items = reader.items()
    os.makedirs(output_dir, exist_ok=True)
    if strict:
        fatal = validate(reader, items, num_workers, progress)
        if fatal:
            shown = "\n".join(f"  {p}" for p in fatal[:20])
            more = f"\n  ... and {len(fatal) - 20} more" if len(fatal) > 20 else ""
            raise StrictError(f"--strict: {len(fatal)} problem(s) in the input, nothing written:\n{shown}{more}")
    for stale in glob.glob(os.path.join(output_dir, f".{split}-*.tmp")):
        os.remove(stale)
    final_names = [shard_name(split, i, num_shards) for i in range(num_shards)]
    tmp_paths = [os.path.join(output_dir, f".{name}.tmp") for name in final_names]
    writers = [tf.io.TFRecordWriter(p) for p in tmp_paths]
    stats = Statistics()
    try:
        with _progress(len(items), f"{dataset_name or 'convert'}/{split}", progress) as bar:
            for sample, problems in iter_loaded(reader, items, num_workers):
                for problem in problems:
                    stats.problems.append(problem)
                    if problem.fatal:
                        bar.write(f"warning: {problem}")
                if sample is not None:
                    writers[stats.images % num_shards].write(sample_to_example(sample).SerializeToString())
                    stats.add(sample)
                bar.update(1)
    except BaseException:
        for w in writers:
            w.close()
        for p in tmp_paths:
            if os.path.exists(p):
                os.remove(p)
        raise
    for w in writers:
        w.close()
    keep = set(final_names)
    for old in glob.glob(os.path.join(output_dir, f"{split}-*-of-*.tfrecord")):
        if os.path.basename(old) not in keep:
            os.remove(old)
    for tmp, name in zip(tmp_paths, final_names):
        os.replace(tmp, os.path.join(output_dir, name))
    summary = stats.to_json()
    summary["num_shards"] = num_shards
    summary["files"] = final_names
    label_map = dict(getattr(reader, "label_map", None) or stats.label_map or {keys.TEXT_CLASS_NAME: 1})
    json_path = os.path.join(output_dir, keys.DATASET_JSON)
    existing = {}
    if os.path.exists(json_path):
        try:
            with open(json_path, encoding="utf-8") as f:
                existing = json.load(f)
        except ValueError:
            existing = {}
    existing.setdefault("splits", {})
    existing["dataset"] = dataset_name or getattr(reader, "dataset_name", "")
    existing["label_map"] = label_map
    existing.update(getattr(reader, "dataset_json_extra", None) or {})  # e.g. a class-agnostic reader's original_label_map
    existing["splits"][split] = summary
    _write_json_atomic(json_path, existing)
    return summary
