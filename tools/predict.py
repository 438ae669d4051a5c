"""Draw detections on images and write them as JSON lines.

python tools/predict.py --model=export/tiny/1 --images='photos/*.jpg' --output_dir=pred
"""

import sys

from absl import app, flags

from tfdet import flags as tfdet_flags

tfdet_flags.define_predict_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfdet.cli import predict

    sys.exit(predict.run(FLAGS))


if __name__ == "__main__":
    flags.mark_flags_as_required(["model", "images", "output_dir"])
    app.run(main)
