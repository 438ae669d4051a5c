"""Conversion throughput (images/s) with 1 and 2 workers, as a ratio to reading and copying the
same image files without parsing. Data: the real ICDAR 2015 training samples (1280x720 JPEGs)
repeated to 600 images (synthetic ICDAR-format files when ../shared/data is absent)."""

import os
import shutil
import sys
import tempfile

from tfdet.benchmark import best_rate, report
from tfdet.datasets import get_reader
from tfdet.records import writer

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "icdar2015", "train")
COUNT = 600


def make_source(root: str) -> str:
    images, gt = os.path.join(root, "images"), os.path.join(root, "gt")
    os.makedirs(images)
    os.makedirs(gt)
    if os.path.isdir(SHARED):
        names = sorted(os.listdir(os.path.join(SHARED, "images")))
        for i in range(COUNT):
            stem = os.path.splitext(names[i % len(names)])[0]
            shutil.copy(os.path.join(SHARED, "images", f"{stem}.jpg"), os.path.join(images, f"img_{i + 1}.jpg"))
            shutil.copy(os.path.join(SHARED, "gt", f"gt_{stem}.txt"), os.path.join(gt, f"gt_img_{i + 1}.txt"))
        return "real ICDAR 2015 samples (1280x720)"
    from tfdet.datasets.synthetic import SyntheticConfig, write_icdar2015

    write_icdar2015(root, COUNT, 0, SyntheticConfig(min_width=1280, max_width=1280, min_height=720, max_height=720))
    return "synthetic 1280x720 images"


def copy_files(src: str, dst: str):
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        with open(os.path.join(src, name), "rb") as f:
            data = f.read()
        with open(os.path.join(dst, name), "wb") as f:
            f.write(data)


def main():
    root = tempfile.mkdtemp(prefix="tfdet_bench_convert_")
    try:
        source = make_source(os.path.join(root, "src"))
        reader = get_reader("icdar2015", image_dir=os.path.join(root, "src", "images"), annotations=os.path.join(root, "src", "gt"))
        import tensorflow  # noqa: F401  (imported before timing: the writer needs it)

        baseline = best_rate(lambda: copy_files(os.path.join(root, "src", "images"), os.path.join(root, "copy")), COUNT)
        rates = {}
        for workers in (1, 2):
            out = os.path.join(root, f"out{workers}")
            rates[workers] = best_rate(lambda o=out, w=workers: writer.convert(reader, o, num_shards=4, num_workers=w, progress=False), COUNT, 2)
        print(f"read+copy {baseline:.1f} img/s; convert 1 worker {rates[1]:.1f} img/s, 2 workers {rates[2]:.1f} img/s", file=sys.stderr)
        report({"bench": "convert", "data": source, "images": COUNT, "baseline_copy_images_per_second": round(baseline, 1),
                "workers_1_images_per_second": round(rates[1], 1), "workers_2_images_per_second": round(rates[2], 1),
                "ratio_1_worker": round(rates[1] / baseline, 4), "ratio": round(rates[2] / baseline, 4)})
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
