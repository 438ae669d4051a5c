"""Fit anchors to a dataset and write a flagfile for tools/train.py.

python tools/optimize_anchors.py --flagfile=configs/tiny_cpu.cfg --records='records/syn/train-*' --output=configs/anchors/syn.cfg
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("optimize_anchors")
