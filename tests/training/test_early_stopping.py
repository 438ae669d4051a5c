"""--early_stopping_patience: counted in evaluations, best checkpoint kept; --best_metric picks the figure."""

import json
import os

import pytest

from tests.training.test_training import run, summary_of, train_cmd
from tfdet.datasets import get_reader
from tfdet.records import writer
from tfdet.evaluation import selection_key


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
    # the stopping step was checkpointed with the count: the same command again has nothing left to do ...
    stopped = summary["steps"]
    assert os.path.basename(summary["checkpoint"]) == f"ckpt-{stopped}"
    again = run(train_cmd(pattern, model_dir, "--num_steps=60", "--eval_every=2", "--early_stopping_patience=2",
                          f"--val_records={pattern}", "--checkpoint_every=100", "--eval_size=128",
                          "--best_metric=best_sweep_hmean"))
    assert again.returncode == 0, again.stderr[-4000:]
    assert f"stopped early at step {stopped}" in again.stdout + again.stderr and summary_of(again)["steps"] == stopped
    assert json.load(open(model_dir / "best" / "best.json")) == best
    # ... and a larger patience continues from there, counting the 2 evaluations already without a better figure
    more = run(train_cmd(pattern, model_dir, "--num_steps=60", "--eval_every=2", "--early_stopping_patience=3",
                         f"--val_records={pattern}", "--checkpoint_every=100", "--eval_size=128",
                         "--best_metric=best_sweep_hmean"))
    assert more.returncode == 0, more.stderr[-4000:]
    assert f"resuming from step {stopped}" in more.stdout + more.stderr
    continued = summary_of(more)
    assert continued["start_step"] == stopped
    # 3 evaluations after the best, wherever it is now (still the first run's: the very next evaluation)
    assert continued["early_stopped_at"] == continued["best"]["step"] + 6 == continued["steps"] < 60
    assert continued["best"]["step"] == best_step or continued["best"]["metric"] > best["metric"]


def test_selection_key():
    assert selection_key("auto", "icdar2015") == "hmean" and selection_key("auto", "coco_quad") == "mAP"
    assert selection_key("best_sweep_hmean", "icdar2013") == "best_sweep_hmean"
    assert selection_key("mAP_50", "coco") == "mAP_50"
    with pytest.raises(ValueError, match="--best_metric=mAP does not exist for --eval_protocol=icdar2015"):
        selection_key("mAP", "icdar2015")


def _tiny_config(num_steps, **overrides):
    from tfdet.anchors.coder import BoxCoder
    from tfdet.anchors.config import AnchorConfig
    from tfdet.anchors.matcher import MatcherConfig
    from tfdet.input.augment import AugmentConfig
    from tfdet.input.pipeline import InputConfig
    from tfdet.losses import LossConfig
    from tfdet.modeling.config import ModelConfig
    from tfdet.training.config import OptimConfig, RunConfig

    return RunConfig(model=ModelConfig(backbone="tiny", norm="group_norm", fpn_channels=16, head_channels=16, head_convs=1),
                     anchors=AnchorConfig(min_level=3, max_level=6, base_sizes=(24, 48, 96, 192), aspect_ratios=(1, 2, 4),
                                          scales_per_octave=1),
                     input=InputConfig(sizes=(128,), batch_size=2, deterministic=True,
                                       augment=AugmentConfig(crop_probability=0.0, photometric=False)),
                     matcher=MatcherConfig(), coder=BoxCoder(), loss=LossConfig(), optim=OptimConfig(warmup_steps=1),
                     num_steps=num_steps, checkpoint_every=2, eval_every=2, precision="float32", strategy="one_device",
                     **overrides)


def test_a_continued_run_keeps_its_best_and_its_early_stopping_count(records, tmp_path):
    """A fake evaluator: 0.9 at step 2, then worse. Continuing the run must neither replace best/ with a worse
    checkpoint nor forget how many evaluations passed without a better one."""
    from tfdet.training.trainer import Trainer

    scores = {2: 0.9, 4: 0.1, 6: 0.2, 8: 0.95}
    evaluated, messages = [], []

    def fake_evaluator(model, step):
        evaluated.append(step)
        return {"hmean": scores[step], "precision": 1.0, "recall": scores[step]}

    def train(num_steps, patience=2, best_metric="auto", **config):
        return Trainer(_tiny_config(num_steps, **config), str(tmp_path), records, progress=False, evaluator=fake_evaluator,
                       early_stopping_patience=patience, best_metric=best_metric, log=messages.append).run()

    assert train(2)["best"] == {"metric": 0.9, "key": "hmean", "step": 2}
    second = train(4)  # continued from step 2: 0.1 at step 4 is not better
    assert second["start_step"] == 2 and second["best"] == {"metric": 0.9, "key": "hmean", "step": 2}
    best = json.load(open(tmp_path / "best" / "best.json"))
    assert (best["metric"], best["step"], best["key"], best["best_metric"], best["protocol"]) == (0.9, 2, "hmean", "auto", "icdar2015")
    # continued again: the evaluation at step 4 still counts, so step 6 is the second without a better figure
    third = train(8)
    assert third["early_stopped_at"] == 6 == third["steps"] and evaluated == [2, 4, 6]
    assert "early stopping at step 6: no better hmean in 2 evaluations (best 0.9000 at step 2" in "\n".join(messages)
    assert train(8)["steps"] == 6 and evaluated == [2, 4, 6]  # stopped early: nothing left to do
    assert "stopped early at step 6" in messages[-1]
    # another figure would compare unlike values: refused before anything runs
    with pytest.raises(ValueError, match=r"best hmean \(--best_metric=auto\); this run would rank checkpoints by best_sweep_hmean"):
        train(8, patience=3, best_metric="best_sweep_hmean")
    with pytest.raises(ValueError, match="continue it with --eval_protocol=icdar2015"):  # DetEval's Hmean is another figure
        train(8, patience=3, eval_protocol="icdar2013")
    assert train(8, patience=3)["best"] == {"metric": 0.95, "key": "hmean", "step": 8} and evaluated == [2, 4, 6, 8]


def test_a_checkpoint_from_before_the_count_was_kept_continues(records, tmp_path):
    import tensorflow as tf

    from tfdet.training.trainer import Trainer

    older = Trainer(_tiny_config(2), str(tmp_path), records, progress=False)
    older.build()
    older.step.assign(1)
    older.config.save(str(tmp_path))
    tf.train.Checkpoint(model=older.model, optimizer=older.optimizer, step=older.step,
                        train_seconds=older.train_seconds).save(str(tmp_path / "ckpt"))
    messages = []
    summary = Trainer(_tiny_config(2), str(tmp_path), records, progress=False, log=messages.append).run()
    assert summary["start_step"] == 1 and summary["steps"] == 2, messages


def test_a_continued_run_with_another_best_metric_is_refused(tmp_path):
    """The command line: a clear error and exit status 2, no traceback, nothing trained."""
    records = str(tmp_path / "rec")
    writer.convert(get_reader("synthetic", num_images=2, seed=5), records, num_shards=1, progress=False)
    pattern = os.path.join(records, "*.tfrecord")
    os.makedirs(tmp_path / "run" / "best")
    stored = {"metric": 0.5, "key": "hmean", "step": 2, "best_metric": "auto"}
    json.dump(stored, open(tmp_path / "run" / "best" / "best.json", "w"))
    (tmp_path / "run" / "flags.cfg").write_text("--best_metric=auto\n")
    proc = run(train_cmd(pattern, tmp_path / "run", "--num_steps=4", f"--val_records={pattern}",
                         "--best_metric=best_sweep_hmean"))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "error: the run in" in proc.stderr and "continue it with --best_metric=auto" in proc.stderr
    assert "Traceback" not in proc.stderr and not list((tmp_path / "run").glob("ckpt-*"))
    assert json.load(open(tmp_path / "run" / "best" / "best.json")) == stored
    assert (tmp_path / "run" / "flags.cfg").read_text() == "--best_metric=auto\n"  # the run's own flags, to continue it


def test_best_metric_of_another_protocol_is_refused(tmp_path):
    proc = run(train_cmd(str(tmp_path / "none-*"), tmp_path / "run", "--best_metric=mAP", "--eval_protocol=icdar2015"))
    assert proc.returncode == 2
    assert "--best_metric=mAP does not exist for --eval_protocol=icdar2015" in proc.stderr
    assert not (tmp_path / "run").exists()
