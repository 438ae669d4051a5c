"""--early_stopping_patience: counted in evaluations, best checkpoint kept."""

import json
import os

from tests.training.test_training import run, summary_of, train_cmd
from tfdet.datasets import get_reader
from tfdet.records import writer


def test_early_stopping_after_patience_evaluations(tmp_path):
    records = str(tmp_path / "rec")
    writer.convert(get_reader("synthetic", num_images=4, seed=5), records, num_shards=1, progress=False)
    pattern = os.path.join(records, "*.tfrecord")
    model_dir = tmp_path / "run"
    proc = run(train_cmd(pattern, model_dir, "--num_steps=60", "--eval_every=2", "--early_stopping_patience=2",
                         f"--val_records={pattern}", "--checkpoint_every=100", "--eval_size=128"))
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr[-4000:]
    best_step = summary["best"]["step"]
    # stopped exactly 2 evaluations (4 steps) after the last improvement, long before step 60
    assert summary["early_stopped_at"] == best_step + 4 == summary["steps"]
    assert summary["steps"] < 60
    assert "early stopping at step" in proc.stdout + proc.stderr
    with open(model_dir / "best" / "best.json") as f:
        assert json.load(f)["step"] == best_step
    # the stopping step was checkpointed: running again continues from there
    assert os.path.basename(summary["checkpoint"]) == f"ckpt-{summary['steps']}"
