"""Draw the ground truth of records (or augmented training batches) onto PNGs.

python tools/show_records.py --records='records/ic15/train-*' --output_dir=pictures --num_images=8
python tools/show_records.py --anchor_coverage --flagfile=configs/shelves_detector.cfg --records='records/shelves/*.tfrecord' --output_dir=anchors
python tools/show_records.py --augmented --flagfile=configs/tiny_cpu.cfg --records='records/syn/train-*' --output_dir=aug
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("show_records")
