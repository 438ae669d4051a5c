"""make demo-recognition's whole path at a tiny size: shelves, class-agnostic records, detector,
embedder, gallery, seen / unseen recognition, one SavedModel checked in a fresh process."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO


def test_demo_recognition_tiny(tmp_path):
    out = tmp_path / "demo"
    embedder_cfg = tmp_path / "embedder.cfg"
    embedder_cfg.write_text("--backbone=tiny\n--width_multiplier=0.25\n--embedding_size=8\n--crop_size=32\n"
                            "--classes_per_batch=3\n--samples_per_class=2\n--batch_all_steps=2\n--checkpoint_every=4\n")
    cmd = [sys.executable, os.path.join(REPO, "tools", "demo_recognition.py"), f"--output_dir={out}", "--num_products=6",
           "--seen_products=4", "--num_train_images=4", "--num_test_images=2", "--num_gallery_images=2", "--gallery_per_label=2",
           "--detector_steps=4", "--embedder_steps=4", f"--embedder_config={embedder_cfg}", "--num_workers=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["detector"]["steps"] == 4 and 0.0 <= report["detector"]["AP50"] <= 1.0
    assert report["embedder"]["labels"] == 4  # only the seen products are trained on
    assert report["recognition"]["seen"]["queries"] > 0 and report["recognition"]["unseen"]["queries"] > 0
    assert report["gallery"]["labels"] == 6
    assert report["fresh_process"]["fresh_process_detections"] >= 0
    assert (out / "eval_recognition" / "pairs.png").exists() and (out / "eval_recognition" / "summary.json").exists()
    meta = json.load(open(out / "records" / "train" / "dataset.json"))
    assert meta["label_map"] == {"object": 1} and len(meta["original_label_map"]) == 6
