"""Evaluate a checkpoint or SavedModel with the ICDAR 2015 / ICDAR 2013 / COCO protocol.

python tools/evaluate.py --model=runs/tiny --protocol=icdar2015 --records='records/val/*' --output_dir=eval/tiny
"""

import sys

from absl import app, flags

from tfdet import flags as tfdet_flags

tfdet_flags.define_evaluate_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfdet.cli import evaluate

    sys.exit(evaluate.run(FLAGS))


if __name__ == "__main__":
    flags.mark_flags_as_required(["model", "output_dir"])
    app.run(main)
