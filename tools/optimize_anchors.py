"""Fit anchors to a dataset and write a flagfile for tools/train.py.

python tools/optimize_anchors.py --flagfile=configs/tiny_cpu.cfg --records='records/syn/train-*' --output=configs/anchors/syn.cfg
"""

import sys

from absl import app, flags

from tfdet import flags as tfdet_flags

tfdet_flags.define_optimize_anchor_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfdet.cli import optimize_anchors

    sys.exit(optimize_anchors.run(FLAGS))


if __name__ == "__main__":
    flags.mark_flags_as_required(["records", "output"])
    app.run(main)
