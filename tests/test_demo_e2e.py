"""The demo's whole path at a tiny size: records, anchor flagfile, checkpoint, evaluation JSON,
a SavedModel that loads in a fresh process, and PNGs."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO


def test_demo_path_tiny(tmp_path):
    out = tmp_path / "demo"
    # the demo's model with a short warm-up, so that 30 steps show it learning
    config = tmp_path / "demo_fast.cfg"
    config.write_text(f"--flagfile={os.path.join(REPO, 'configs', 'demo_cpu.cfg')}\n--warmup_steps=5\n--learning_rate=0.004\n")
    cmd = [sys.executable, os.path.join(REPO, "tools", "demo.py"), f"--output_dir={out}", "--num_train_images=24",
           "--num_val_images=6", "--num_test_images=6", "--num_steps=30", f"--config={config}", "--sizes=128", "--batch_size=4", "--num_workers=1",
           "--precision=float32", "--train_minutes=0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("precision", "recall", "hmean", "train_seconds", "saved_model"):
        assert key in report
    assert 0.0 <= report["hmean"] <= 1.0 and report["train_steps"] == 30
    # the run learns: over its last 10 steps the classification loss (focal, from the 0.01 prior) is well below
    # its first 10 steps', and the total loss is lower too (the box loss of a few positives is noisy)
    first, last = report["train_loss_first_steps"], report["train_loss_last_steps"]
    assert last["cls_loss"] < 0.8 * first["cls_loss"] and last["total_loss"] < first["total_loss"], report
    assert report["train_precision"] == "float32" and report["stopped_by_time_budget"] is False
    for split, n in (("train", 24), ("val", 6), ("test", 6)):
        meta = json.load(open(out / "records" / split / "dataset.json"))
        assert meta["splits"][split]["images"] == n
    assert (out / "anchors" / "synthetic.cfg").read_text().count("--anchor_") == 6
    assert (out / "anchors" / "synthetic_shapes.png").exists() and (out / "anchors" / "synthetic_coverage.png").exists()
    assert (out / "run" / "ckpt-30.index").exists() and (out / "run" / "run_config.json").exists()
    summary = json.load(open(out / "eval_test" / "summary.json"))
    assert summary["images"] == 6 and "sweep" in summary
    assert (out / "eval_test" / "submit.zip").exists() and (out / "eval_test" / "pr_curve.png").exists()
    assert len(list((out / "eval_test" / "pictures").glob("*.png"))) == 6
    code = ("import sys, tensorflow as tf; m = tf.saved_model.load(sys.argv[1]); "
            "print(sorted(m.signatures)); assert 'tfdet' not in sys.modules")
    fresh = subprocess.run([sys.executable, "-c", code, report["saved_model"]], capture_output=True, text=True, timeout=300, cwd="/")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert "serving_default" in fresh.stdout
    assert report["fresh_process_detections"] is not None
