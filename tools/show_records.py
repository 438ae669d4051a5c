"""Draw the ground truth of records (or augmented training batches) onto PNGs.

python tools/show_records.py --records='records/ic15/train-*' --output_dir=pictures --num_images=8
python tools/show_records.py --augmented --flagfile=configs/tiny_cpu.cfg --records='records/syn/train-*' --output_dir=aug
"""

import sys

from absl import app, flags

from tfdet import flags as tfdet_flags

tfdet_flags.define_show_records_flags()
tfdet_flags.define_train_flags()
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from tfdet.cli import show_records

    sys.exit(show_records.run(FLAGS))


if __name__ == "__main__":
    flags.mark_flags_as_required(["records", "output_dir"])
    app.run(main)
