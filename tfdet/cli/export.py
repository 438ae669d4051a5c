"""tools/export.py: run folder -> export/<name>/<version>/ SavedModel (or TFLite with --format=tflite)."""

from __future__ import annotations

import json
import sys

from tfdet import flags as tfdet_flags


def run_tflite(FLAGS) -> int:
    """--format=tflite: model.tflite + detector.json (tfdet/serving/tflite.py)."""
    from tfdet.serving.tflite import export_tflite, parse_input_size

    try:
        input_size = parse_input_size(FLAGS.tflite_input_size) or ((FLAGS.size, FLAGS.size) if FLAGS.size else None)
        path = export_tflite(FLAGS.model_dir, FLAGS.export_dir, FLAGS.version or None, tfdet_flags.postprocess_config_from_flags(FLAGS),
                             input_size, FLAGS.tflite_quantization, FLAGS.representative_records, FLAGS.num_representative)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"tflite": path}))
    return 0


def run(FLAGS) -> int:
    from tfdet.serving.export import export_saved_model

    if FLAGS.format == "tflite":
        return run_tflite(FLAGS)
    try:
        path = export_saved_model(FLAGS.model_dir, FLAGS.export_dir, FLAGS.version or None,
                                  tfdet_flags.postprocess_config_from_flags(FLAGS), FLAGS.size or None)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"saved_model": path}))
    return 0
