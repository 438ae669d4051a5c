"""resolve_checkpoint: a run folder, its best/ folder or a prefix -> (checkpoint, run folder)."""

import os

import pytest
import tensorflow as tf

from tfdet.training.checkpoints import resolve_checkpoint


@pytest.fixture()
def run_dir(tmp_path):
    (tmp_path / "run_config.json").write_text("{}")
    tf.train.Checkpoint(v=tf.Variable(1.0)).write(str(tmp_path / "best" / "ckpt"))
    return tmp_path


def test_best_folder_and_run_folder_without_latest(run_dir):
    best = os.path.join(str(run_dir), "best", "ckpt")
    assert resolve_checkpoint(str(run_dir)) == (best, str(run_dir))
    assert resolve_checkpoint(str(run_dir / "best")) == (best, str(run_dir))
    assert resolve_checkpoint(best) == (best, str(run_dir))


def test_latest_checkpoint_wins_over_best(run_dir):
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(2.0)), str(run_dir), max_to_keep=1)
    latest = manager.save(checkpoint_number=7)
    assert resolve_checkpoint(str(run_dir)) == (latest, str(run_dir))


def test_missing_checkpoint_and_run_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint in"):
        resolve_checkpoint(str(tmp_path))
    tf.train.Checkpoint(v=tf.Variable(1.0)).write(str(tmp_path / "a" / "ckpt"))
    with pytest.raises(FileNotFoundError, match="no run_config.json"):
        resolve_checkpoint(str(tmp_path / "a"))
    with pytest.raises(FileNotFoundError, match="expected"):
        resolve_checkpoint(str(tmp_path / "a" / "nope"))
