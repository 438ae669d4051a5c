"""Convert a dataset to sharded TFRecords + dataset.json.

python tools/make_tfrecord.py --dataset=icdar2015 --image_dir=DIR --annotations=DIR --output_dir=records/ic15
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("make_tfrecord")
