"""Draw detections on images and write them as JSON lines.

python tools/predict.py --model=export/tiny/1 --images='photos/*.jpg' --output_dir=pred
"""

from tfdet.cli import launch

if __name__ == "__main__":
    launch("predict")
