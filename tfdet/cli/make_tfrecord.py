"""tools/make_tfrecord.py: dataset -> records."""

from __future__ import annotations

import json
import sys
import time

from tfdet.datasets import get_reader
from tfdet.datasets.resized import ResizedReader, parse_size
from tfdet.records import writer

NEEDS = {
    "icdar2015": ("image_dir", "annotations"),
    "icdar2013": ("image_dir", "annotations"),
    "mlt": ("image_dir", "annotations"),
    "coco": ("image_dir", "annotations"),
    "synthtext": ("annotations",),
    "tfod": ("annotations",),
    "synthetic": (),
    "digits": (),
    "msra_td500": ("image_dir",),
}

# conversion flags that only one dataset reads
ONLY_FOR = {"coco": ("class_agnostic",), "synthetic": ("text_heights", "text_blocks", "paste_words", "paste_style"),
            "msra_td500": ("split_lines",), "digits": ("digit_max_angle",)}


def _given(FLAGS, name: str) -> bool:
    """Whether a flag was set to something (0 counts: --digit_max_angle=0 draws upright digits)."""
    value = getattr(FLAGS, name)
    return value is not None and value is not False and value != ""


# conversion flags that several datasets read: flag -> those datasets
FOR_DATASETS = {name: ("icdar2015", "icdar2013", "mlt", "msra_td500") for name in ("split_part", "val_list")}


def _unsupported(FLAGS) -> list[str]:
    """Messages for flags given to a dataset that does not read them."""
    messages = []
    for dataset, names in ONLY_FOR.items():
        used = [n for n in names if _given(FLAGS, n)]
        if used and FLAGS.dataset != dataset:
            verb = "applies" if len(names) == 1 else "apply"
            messages.append(f"--{', --'.join(used)} {verb} to --dataset={dataset}, not {FLAGS.dataset}")
    for name, datasets in FOR_DATASETS.items():
        if getattr(FLAGS, name) not in ("", "all") and FLAGS.dataset not in datasets:
            messages.append(f"--{name} applies to --dataset={', '.join(datasets)}, not {FLAGS.dataset}")
    return messages


def run(FLAGS) -> int:
    missing = [f"--{n}" for n in NEEDS[FLAGS.dataset] if not getattr(FLAGS, n)]
    if missing:
        print(f"error: --dataset={FLAGS.dataset} needs {', '.join(missing)}", file=sys.stderr)
        return 2
    unsupported = _unsupported(FLAGS)
    if unsupported:
        print(f"error: {unsupported[0]}", file=sys.stderr)
        return 2
    generator = {name: getattr(FLAGS, name) for name in ONLY_FOR["synthetic"] if _given(FLAGS, name)}
    try:
        reader = get_reader(
            FLAGS.dataset,
            image_dir=FLAGS.image_dir,
            annotations=FLAGS.annotations,
            split=FLAGS.split,
            num_images=FLAGS.num_images,
            seed=FLAGS.seed,
            backgrounds=FLAGS.backgrounds,
            split_part=FLAGS.split_part,
            val_fraction=FLAGS.val_fraction,
            val_list=FLAGS.val_list,
            class_agnostic=FLAGS.class_agnostic,
            split_lines=FLAGS.split_lines,
            max_angle=FLAGS.digit_max_angle,
            **generator,
        )
        if FLAGS.resize_images:
            reader = ResizedReader(reader, *parse_size(FLAGS.resize_images))
        start = time.time()
        summary = writer.convert(
            reader,
            FLAGS.output_dir,
            split=FLAGS.split,
            num_shards=FLAGS.num_shards,
            num_workers=FLAGS.num_workers,
            strict=FLAGS.strict,
            progress=FLAGS.progress,
            dataset_name=FLAGS.dataset,
        )
    except (writer.StrictError, FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.time() - start
    report = {
        "dataset": FLAGS.dataset,
        "split": FLAGS.split,
        "output_dir": FLAGS.output_dir,
        "images": summary["images"],
        "objects": summary["objects"],
        "dont_care": summary["dont_care"],
        "problems": summary["problem_counts"],
        "shards": summary["num_shards"],
        "seconds": round(elapsed, 2),
        "images_per_second": round(summary["images"] / max(elapsed, 1e-9), 2),
    }
    print(f"converted {report['images']} images, {report['objects']} objects ({report['dont_care']} don't care) "
          f"into {report['shards']} shards in {FLAGS.output_dir} ({report['seconds']} s)")
    for kind, count in sorted(summary["problem_counts"].items()):
        print(f"  {kind}: {count} (details in dataset.json)")
    print(json.dumps(report))
    return 0
