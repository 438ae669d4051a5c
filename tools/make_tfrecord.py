"""Convert a dataset to sharded TFRecords + dataset.json.

python tools/make_tfrecord.py --dataset=icdar2015 --image_dir=DIR --annotations=DIR --output_dir=records/ic15
"""

from absl import app, flags

from tfdet import flags as tfdet_flags

tfdet_flags.define_conversion_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfdet.cli import make_tfrecord

    return make_tfrecord.run(FLAGS)


if __name__ == "__main__":
    flags.mark_flags_as_required(["dataset", "output_dir"])
    app.run(main)
