"""Detect any product, then recognise it from a gallery (make demo-recognition).

python tools/demo_recognition.py --output_dir=demo_recognition_out [--parts=shelves,coco]
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("demo_recognition")
