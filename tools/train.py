"""Train a quad RetinaNet.

python tools/train.py --flagfile=configs/tiny_cpu.cfg --train_records='records/syn/train-*' --model_dir=runs/tiny
"""

import sys

from absl import app, flags

from tfdet import flags as tfdet_flags

tfdet_flags.define_train_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfdet.cli import train

    sys.exit(train.run(FLAGS))


if __name__ == "__main__":
    flags.mark_flags_as_required(["train_records", "model_dir"])
    app.run(main)
