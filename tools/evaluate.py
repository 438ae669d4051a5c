"""Evaluate a checkpoint or SavedModel with the ICDAR 2015 / ICDAR 2013 / COCO protocol.

python tools/evaluate.py --model=runs/tiny --protocol=icdar2015 --records='records/val/*' --output_dir=eval/tiny
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("evaluate")
