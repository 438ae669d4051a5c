"""--early_stopping_patience: counted in evaluations, best checkpoint kept; --best_metric picks the figure."""

import json
import os

import pytest

from tests.training.test_training import run, summary_of, train_cmd
from tfdet.datasets import get_reader
from tfdet.records import writer
from tfdet.training.trainer import selection_key


def test_early_stopping_after_patience_evaluations(tmp_path):
    records = str(tmp_path / "rec")
    writer.convert(get_reader("synthetic", num_images=4, seed=5), records, num_shards=1, progress=False)
    pattern = os.path.join(records, "*.tfrecord")
    model_dir = tmp_path / "run"
    proc = run(train_cmd(pattern, model_dir, "--num_steps=60", "--eval_every=2", "--early_stopping_patience=2",
                         f"--val_records={pattern}", "--checkpoint_every=100", "--eval_size=128",
                         "--best_metric=best_sweep_hmean"))
    summary = summary_of(proc)
    assert proc.returncode == 0, proc.stderr[-4000:]
    best_step = summary["best"]["step"]
    # stopped exactly 2 evaluations (4 steps) after the last improvement, long before step 60
    assert summary["early_stopped_at"] == best_step + 4 == summary["steps"]
    assert summary["steps"] < 60
    assert "early stopping at step" in proc.stdout + proc.stderr
    with open(model_dir / "best" / "best.json") as f:
        best = json.load(f)
    assert best["step"] == best_step and best["key"] == summary["best"]["key"] == "best_sweep_hmean"
    # the threshold chosen with the checkpoint is kept beside it (to export with)
    assert best["metric"] == best["best_sweep_hmean"] and 0.0 < best["best_sweep_threshold"] < 1.0
    assert "no better best_sweep_hmean" in proc.stdout + proc.stderr
    # the stopping step was checkpointed: running again continues from there
    assert os.path.basename(summary["checkpoint"]) == f"ckpt-{summary['steps']}"


def test_selection_key():
    text = {"hmean": 0.2, "precision": 0.5, "recall": 0.1, "best_sweep_hmean": 0.4, "best_sweep_threshold": 0.3}
    coco = {"mAP": 0.3, "mAP_50": 0.6}
    assert selection_key(text) == "hmean" and selection_key(coco) == "mAP"
    assert selection_key(text, "best_sweep_hmean") == "best_sweep_hmean"
    assert selection_key(coco, "mAP_50") == "mAP_50"
    with pytest.raises(ValueError, match="not mAP"):
        selection_key(text, "mAP")


def test_best_metric_of_another_protocol_is_refused(tmp_path):
    proc = run(train_cmd(str(tmp_path / "none-*"), tmp_path / "run", "--best_metric=mAP", "--eval_protocol=icdar2015"))
    assert proc.returncode == 2
    assert "--best_metric=mAP does not exist for --eval_protocol=icdar2015" in proc.stderr
    assert not (tmp_path / "run").exists()
