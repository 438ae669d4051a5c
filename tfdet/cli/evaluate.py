"""tools/evaluate.py: a model (checkpoint or SavedModel) on records or a raw dataset."""

from __future__ import annotations

import json
import sys

from tfdet import flags as tfdet_flags
from tfdet.evaluation import is_coco_protocol


def scoring_protocol(FLAGS) -> str:
    """--protocol when given, else the protocol the model's run was scored with (said in a note), else icdar2015."""
    from tfdet.serving.export import run_protocol

    if FLAGS["protocol"].present:
        return FLAGS.protocol
    recorded = run_protocol(FLAGS.model)
    if recorded and recorded != FLAGS.protocol:
        print(f"note: scoring with --protocol={recorded}, the protocol {FLAGS.model} was trained with", file=sys.stderr)
    return recorded or FLAGS.protocol


def run(FLAGS) -> int:
    from tfdet.evaluation.files import EvaluationFormatError
    from tfdet.evaluation.runner import evaluate_detector, load_samples, official_ground_truth
    from tfdet.serving.export import load_detector

    if not FLAGS.records and not (FLAGS.dataset and FLAGS.annotations):
        print("error: give --records, or --dataset with --image_dir and --annotations", file=sys.stderr)
        return 2
    try:
        protocol = scoring_protocol(FLAGS)
        samples = load_samples(FLAGS.records, FLAGS.dataset, FLAGS.image_dir, FLAGS.annotations)
        if not samples:
            print("error: no images to evaluate", file=sys.stderr)
            return 2
        gt_files = None if FLAGS.records else official_ground_truth(protocol, FLAGS.dataset, FLAGS.image_dir, FLAGS.annotations)
        # detections are kept down to the lowest sweep threshold; --score_threshold picks the reported point
        # (a SavedModel keeps its exported score floor: the sweep starts there)
        post = tfdet_flags.postprocess_config_from_flags(FLAGS, score_floor=0.05, protocol=protocol)
        requested = tfdet_flags.requested_postprocess(FLAGS)
        detector = load_detector(FLAGS.model, post, FLAGS.size or None, tuple(r for r in requested if r != "score_threshold"),
                                 FLAGS.precision)
        threshold = FLAGS.score_threshold
        floor = float(getattr(detector, "score_floor", 0.0))
        if "score_threshold" not in requested and threshold < floor:
            print(f"note: {FLAGS.model} keeps detections scoring above {floor} only: reporting at --score_threshold={floor}",
                  file=sys.stderr)
            threshold = floor
        summary = evaluate_detector(detector, samples, protocol, FLAGS.output_dir, threshold,
                                    FLAGS.batch_size, FLAGS.progress, FLAGS.pictures, gt_files=gt_files,
                                    dota_ap=FLAGS.dota_ap)
    except (FileNotFoundError, ValueError, EvaluationFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    keys = ("precision", "recall", "hmean") if not is_coco_protocol(protocol) else ("mAP", "mAP_50", "mAP_75")
    line = {k: summary[k] for k in keys}
    if protocol == "coco_quad":
        line.update({k: v for k, v in summary.items() if k.startswith("mAP_50_voc")})
        line["AP50_per_class"] = {name: e["AP50"] for name, e in summary["per_class"].items()}
    if "best" in summary:
        line["best"] = summary["best"]
    line.update({"images": summary["images"], "images_per_second": summary["images_per_second"], "output_dir": FLAGS.output_dir})
    print(json.dumps(line))
    return 0
