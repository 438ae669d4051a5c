"""tools/train_embedder.py: ground-truth crops of records -> a triplet-loss embedder run folder."""

from __future__ import annotations

import json
import os
import sys

from tfdet import flags as tfdet_flags

TRAIN_EXIT_NAN = 3


def run(FLAGS) -> int:
    from tfdet.recognition.crops import crops_from_records
    from tfdet.recognition.train import EmbedderTrainer
    from tfdet.training.trainer import NonFiniteLossError

    try:
        config = tfdet_flags.embedder_run_config_from_flags(FLAGS)
    except ValueError as exc:
        print(f"error: invalid configuration: {exc}", file=sys.stderr)
        return 2
    names = [n.strip() for n in FLAGS.labels.split(",") if n.strip()] or None
    try:
        crops = crops_from_records(FLAGS.train_records, config.model.input_size, config.model.crop_margin, names,
                                   FLAGS.max_crops, FLAGS.progress)
        if not len(crops):
            print(f"error: no ground-truth objects in {FLAGS.train_records}" + (" with those --labels" if names else ""),
                  file=sys.stderr)
            return 2
        os.makedirs(FLAGS.model_dir, exist_ok=True)
        tfdet_flags.write_flags_file(os.path.join(FLAGS.model_dir, "flags.cfg"))
        summary = EmbedderTrainer(config, FLAGS.model_dir, crops, progress=FLAGS.progress).run()
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return TRAIN_EXIT_NAN
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
