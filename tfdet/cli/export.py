"""tools/export.py: run folder -> export/<name>/<version>/ SavedModel (or TFLite with --format=tflite).

Post-processing defaults follow the protocol the run is scored with (run_config.json): NMS IoU 0.5 and
score floor 0.05 for COCO-style protocols, 0.3 and 0.5 for text; flags given win. A multi-class or
COCO-protocol export that keeps a floor above 0.05 is warned about (it cuts the PR curve mAP scores)."""

from __future__ import annotations

import json
import sys

from tfdet import flags as tfdet_flags


def export_postprocess(model_dir: str, FLAGS):
    """-> (PostprocessConfig for the run in `model_dir` from the post-processing flags, warning or None)."""
    from tfdet.evaluation import default_score_threshold
    from tfdet.serving.export import resolve_checkpoint, score_floor_warning
    from tfdet.training.config import RunConfig

    config = RunConfig.load(resolve_checkpoint(model_dir)[1])
    post = tfdet_flags.postprocess_config_from_flags(FLAGS, protocol=config.eval_protocol,
                                                      score_default=default_score_threshold(config.eval_protocol))
    return post, score_floor_warning(config, post)


def write_export(FLAGS, post) -> dict:
    """The SavedModel or TFLite export -> {kind: path}."""
    if FLAGS.format == "tflite":  # model.tflite + detector.json (tfdet/serving/tflite.py)
        from tfdet.serving.tflite import export_tflite, parse_input_size

        input_size = parse_input_size(FLAGS.tflite_input_size) or ((FLAGS.size, FLAGS.size) if FLAGS.size else None)
        return {"tflite": export_tflite(FLAGS.model_dir, FLAGS.export_dir, FLAGS.version or None, post, input_size,
                                        FLAGS.tflite_quantization, FLAGS.representative_records, FLAGS.num_representative)}
    from tfdet.serving.export import export_saved_model

    return {"saved_model": export_saved_model(FLAGS.model_dir, FLAGS.export_dir, FLAGS.version or None, post, FLAGS.size or None)}


def run(FLAGS) -> int:
    try:
        post, warning = export_postprocess(FLAGS.model_dir, FLAGS)
        if warning:
            print(warning, file=sys.stderr)
        result = write_export(FLAGS, post)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0
