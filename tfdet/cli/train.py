"""tools/train.py: flags -> RunConfig -> Trainer."""

from __future__ import annotations

import json
import os
import sys

from tfdet import flags as tfdet_flags
from tfdet.evaluation import selection_key

TRAIN_EXIT_NAN = 3


def run(FLAGS) -> int:
    from tfdet.anchors.config import AnchorMismatchError
    from tfdet.training.trainer import NonFiniteLossError, Trainer

    try:
        config = tfdet_flags.run_config_from_flags(FLAGS)
    except ValueError as exc:
        print(f"error: invalid configuration: {exc}", file=sys.stderr)
        return 2
    try:
        selection_key(FLAGS.best_metric, config.eval_protocol)
        evaluator = None
        if FLAGS.val_records:  # lists the files only: TensorFlow must not start before the strategy is built
            from tfdet.evaluation.runner import make_training_evaluator

            evaluator = make_training_evaluator(config, FLAGS.val_records, FLAGS.model_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.makedirs(FLAGS.model_dir, exist_ok=True)
    trainer = Trainer(config, FLAGS.model_dir, FLAGS.train_records, FLAGS.val_records, FLAGS.resume,
                      progress=FLAGS.progress, evaluator=evaluator, early_stopping_patience=FLAGS.early_stopping_patience,
                      best_metric=FLAGS.best_metric)
    try:
        trainer.check()  # a refused continuation leaves the run folder's flags.cfg as it was
        tfdet_flags.write_flags_file(os.path.join(FLAGS.model_dir, "flags.cfg"))
        summary = trainer.run()
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return TRAIN_EXIT_NAN
    except (AnchorMismatchError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
