"""What each tool in tools/ does, given its parsed flags (the tools only parse flags).

`launch(name)` is the whole body of a tool: define its flags, parse them (flagfiles included)
with absl, then call `tfdet.cli.<name>.run(FLAGS)` and exit with its status.
"""

from __future__ import annotations

import importlib
import sys

TOOLS = {
    # tool: (flag definer in tfdet.flags, required flags)
    "make_tfrecord": ("define_conversion_flags", ["dataset", "output_dir"]),
    "train": ("define_train_flags", ["train_records", "model_dir"]),
    "evaluate": ("define_evaluate_flags", ["model", "output_dir"]),
    "export": ("define_export_flags", ["model_dir", "export_dir"]),
    "predict": ("define_predict_flags", ["model", "images", "output_dir"]),
    "optimize_anchors": ("define_optimize_anchor_flags", ["records", "output"]),
    "convert_weights": ("define_convert_weights_flags", ["backbone", "input", "output"]),
    "show_records": ("define_show_records_flags", ["records", "output_dir"]),
    "demo": ("define_demo_flags", []),
    "train_embedder": ("define_train_embedder_flags", ["train_records", "model_dir"]),
    "build_gallery": ("define_build_gallery_flags", ["embedder", "output"]),
    "evaluate_embedder": ("define_evaluate_embedder_flags", ["embedder", "gallery", "records", "output_dir"]),
    "export_recognizer": ("define_export_recognizer_flags", ["model_dir", "embedder", "gallery", "export_dir"]),
    "make_shelves": ("define_make_shelves_flags", ["output_dir"]),
    "demo_recognition": ("define_demo_recognition_flags", []),
}


def launch(name: str):
    from absl import app, flags

    from tfdet import flags as tfdet_flags

    definer, required = TOOLS[name]
    getattr(tfdet_flags, definer)()
    if required:
        flags.mark_flags_as_required(required)

    def main(argv):
        del argv
        sys.exit(importlib.import_module(f"tfdet.cli.{name}").run(flags.FLAGS))

    app.run(main)
