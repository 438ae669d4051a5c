"""All absl flags of the tools, defined in one place (library modules define none).

Each tool calls the `define_*` functions it needs before `app.run`.
"""

from __future__ import annotations

import json
import os

from absl import flags

FLAGS = flags.FLAGS


def _define_once(kind, name, default, help_text, **kwargs):
    if name in FLAGS:
        return
    getattr(flags, f"DEFINE_{kind}")(name=name, default=default, help=help_text, **kwargs)


def define_conversion_flags():
    from tfdet.datasets import READER_NAMES

    _define_once("enum", "dataset", None, "Source format.", enum_values=list(READER_NAMES))
    _define_once("string", "output_dir", None, "Where shards and dataset.json go.")
    _define_once("string", "split", "train", "Split name, used in shard names.")
    _define_once("integer", "num_shards", 16, "Number of output shards.")
    _define_once("integer", "num_workers", 1, "Parallel reader processes.")
    _define_once("bool", "strict", False, "Any bad input fails before anything is written.")
    _define_once("string", "image_dir", None, "Folder of images.")
    _define_once("string", "annotations", None, "gt folder or zip, gt.mat / .h5, COCO json, or a record glob (tfod).")
    _define_once("integer", "num_images", 100, "synthetic: number of images.")
    _define_once("integer", "seed", 0, "synthetic: dataset seed.")
    _define_once("bool", "progress", True, "Show progress bars.")


def define_show_records_flags():
    _define_once("string", "records", None, "Record glob.")
    _define_once("string", "output_dir", None, "Where PNGs go.")
    _define_once("integer", "num_images", 8, "How many records (or batches with --augmented) to draw.")
    _define_once("bool", "augmented", False, "Draw augmented training batches with positive anchors.")


def write_flags_file(path: str, flag_names=None):
    """Save resolved flags (all, or the named ones) as a flagfile."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    lines = []
    for name in sorted(flag_names or FLAGS):
        value = FLAGS[name].value
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, (list, tuple)):
            lines.append(f"--{name}={','.join(str(v) for v in value)}")
        else:
            lines.append(f"--{name}={value}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def flags_as_dict(flag_names) -> dict:
    return {name: FLAGS[name].value for name in flag_names}


def dump_json(data) -> str:
    return json.dumps(data, sort_keys=True, default=str)
