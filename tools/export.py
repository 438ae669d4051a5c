"""Export a trained run as a versioned SavedModel for TF Serving.

python tools/export.py --model_dir=runs/tiny --export_dir=export/tiny
"""

import sys

from absl import app, flags

from tfdet import flags as tfdet_flags

tfdet_flags.define_export_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfdet.cli import export

    sys.exit(export.run(FLAGS))


if __name__ == "__main__":
    flags.mark_flags_as_required(["model_dir", "export_dir"])
    app.run(main)
