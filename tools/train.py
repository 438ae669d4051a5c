"""Train a quad RetinaNet.

python tools/train.py --flagfile=configs/tiny_cpu.cfg --train_records='records/syn/train-*' --model_dir=runs/tiny
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("train")
