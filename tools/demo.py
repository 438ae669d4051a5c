"""The whole job on the embedded synthetic dataset: data, anchors, training, ICDAR 2015
evaluation, SavedModel export and pictures. `make demo` runs this.

python tools/demo.py --output_dir=demo_out
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("demo")
