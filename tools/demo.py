"""The whole job on the embedded synthetic dataset: data, anchors, training, ICDAR 2015
evaluation, SavedModel export and pictures. `make demo` runs this.

python tools/demo.py --output_dir=demo_out
"""

import sys

from absl import app, flags

from tfdet import flags as tfdet_flags

tfdet_flags.define_demo_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfdet.cli import demo

    sys.exit(demo.run(FLAGS))


if __name__ == "__main__":
    app.run(main)
