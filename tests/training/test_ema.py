"""--ema_decay: the moving average of the weights is updated as documented, saved in every checkpoint,
evaluated and kept in best/, loaded by everything that reads a run, carried over a resume and
handed to the next stage by --resume."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.training.test_training import run, summary_of, train_cmd
from tfdet.training.ema import averaged_weights, check_decay, holds_average, read_weights

DECAY = 0.9


def _averages(ckpt):
    reader = tf.train.load_checkpoint(str(ckpt))
    names = [n for n in reader.get_variable_to_shape_map() if n.startswith("ema/averages/")]
    return [reader.get_tensor(f"ema/averages/{i}/.ATTRIBUTES/VARIABLE_VALUE") for i in range(len(names))], \
        int(reader.get_tensor("ema/updates/.ATTRIBUTES/VARIABLE_VALUE"))


def _raw_weights(run_dir, ckpt):
    """The float weights of the model in `ckpt` (the `model` entry, not the average), in average order."""
    from tfdet.serving.export import load_trained_model

    model, _, _ = load_trained_model(str(run_dir))
    tf.train.Checkpoint(model=model).read(str(ckpt)).expect_partial()
    return [w.numpy() for w in averaged_weights(model)]


@pytest.fixture(scope="module")
def averaged_run(records, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ema") / "run"
    proc = run(train_cmd(records, folder, "--num_steps=3", "--checkpoint_every=1", f"--ema_decay={DECAY}",
                         f"--val_records={records}", "--eval_every=1", "--learning_rate=0.004"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, proc


def test_average_follows_its_formula(averaged_run):
    folder, proc = averaged_run
    assert summary_of(proc)["ema_decay"] == DECAY
    (a1, n1), (a2, n2), (a3, n3) = (_averages(folder / f"ckpt-{i}") for i in (1, 2, 3))
    assert (n1, n2, n3) == (1, 2, 3)
    for prev, ckpt, n in ((a1, "ckpt-2", 1), (a2, "ckpt-3", 2)):
        d = min(DECAY, (1 + n) / (10 + n))  # the ramp: the average follows the first steps closely
        raw = _raw_weights(folder, folder / ckpt)
        now = _averages(folder / ckpt)[0]
        assert len(raw) == len(now) > 10
        for p, w, a in zip(prev, raw, now):
            np.testing.assert_allclose(a, d * p + (1 - d) * w, rtol=1e-5, atol=1e-6)
    # the average is not the raw weights (else this test could not tell them apart)
    raw3 = _raw_weights(folder, folder / "ckpt-3")
    assert max(float(np.abs(a - w).max()) for a, w in zip(a3, raw3)) > 1e-4


def test_evaluation_best_and_loading_use_the_average(averaged_run):
    folder, _ = averaged_run
    from tfdet.serving.export import load_trained_model

    best = json.load(open(folder / "best" / "best.json"))
    assert best["weights"] == "average"
    kept = _raw_weights(folder, folder / "best" / "ckpt")  # best/ holds the evaluated (averaged) weights as the model
    for a, w in zip(_averages(folder / f"ckpt-{best['step']}")[0], kept):
        np.testing.assert_allclose(w, a, rtol=1e-6, atol=1e-7)
    model, _, ckpt = load_trained_model(str(folder))  # the latest checkpoint: its average, not its raw weights
    assert ckpt.endswith("ckpt-3") and holds_average(ckpt)
    for a, w in zip(_averages(folder / "ckpt-3")[0], averaged_weights(model)):
        np.testing.assert_allclose(w.numpy(), a, rtol=1e-6, atol=1e-7)
    assert read_weights(model, str(folder / "best" / "ckpt")) == "weights"


def test_resume_and_next_stage(averaged_run, records, tmp_path):
    folder, _ = averaged_run
    # the same run continued: the average and its update count come back from the checkpoint
    again = run(train_cmd(records, folder, "--num_steps=4", "--checkpoint_every=1", f"--ema_decay={DECAY}",
                          "--learning_rate=0.004"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from step 3" in again.stdout + again.stderr
    assert _averages(folder / "ckpt-4")[1] == 4
    # the next stage starts from the average, and its own average starts there
    stage = tmp_path / "stage2"
    nxt = run(train_cmd(records, stage, "--num_steps=1", f"--resume={folder}", f"--ema_decay={DECAY}",
                        "--learning_rate=1e-30", "--warmup_steps=0", "--weight_decay=0", "--optimizer=sgd"))
    assert nxt.returncode == 0, nxt.stderr[-3000:]
    assert "its weight average" in nxt.stdout + nxt.stderr
    start = _averages(folder / "ckpt-4")[0]
    for a, w in zip(start, _raw_weights(stage, stage / "ckpt-1")):
        np.testing.assert_allclose(w, a, rtol=1e-5, atol=1e-6)
    averages, updates = _averages(stage / "ckpt-1")
    assert updates == 1
    for a, b in zip(start, averages):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    # a run folder without an average, continued with one: it starts at the checkpoint's weights
    plain = tmp_path / "plain"
    assert run(train_cmd(records, plain, "--num_steps=1")).returncode == 0
    later = run(train_cmd(records, plain, "--num_steps=2", f"--ema_decay={DECAY}"))
    assert later.returncode == 0, later.stderr[-3000:]
    assert "holds no weight average" in later.stdout + later.stderr
    assert _averages(plain / "ckpt-2")[1] == 1
    # continued without --ema_decay: said, not silent
    plain_continue = run(train_cmd(records, folder, "--num_steps=5", "--checkpoint_every=1", "--learning_rate=0.004"))
    assert plain_continue.returncode == 0, plain_continue.stderr[-3000:]
    assert "holds a weight average but this run keeps none" in plain_continue.stdout + plain_continue.stderr


def test_next_stage_from_an_export(averaged_run, records, tmp_path):
    """--resume takes a SavedModel export (a shipped model) as a previous stage: the network starts at the
    weights it was exported with (the run's average), read through assets.extra/run_config.json."""
    from tfdet.postprocess import PostprocessConfig
    from tfdet.serving.export import export_saved_model, load_trained_model

    folder, _ = averaged_run
    model, _, _ = load_trained_model(str(folder))
    exported_weights = [w.numpy() for w in averaged_weights(model)]
    export = export_saved_model(str(folder), str(tmp_path / "export"), post=PostprocessConfig(score_threshold=0.0))
    stage = tmp_path / "from_export"
    proc = run(train_cmd(records, stage, "--num_steps=1", f"--resume={export}", "--learning_rate=1e-30",
                         "--warmup_steps=0", "--weight_decay=0", "--optimizer=sgd"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "variables/variables (previous stage)" in proc.stdout + proc.stderr
    for a, w in zip(exported_weights, _raw_weights(stage, stage / "ckpt-1")):
        np.testing.assert_allclose(w, a, rtol=1e-5, atol=1e-6)
    # other anchors than the export's are refused as from any previous stage
    other = run(train_cmd(records, tmp_path / "other", "--num_steps=1", f"--resume={export}", "--anchor_aspect_ratios=1,3,5,7"))
    assert other.returncode == 2 and "Traceback" not in other.stderr, other.stderr[-2000:]


@pytest.mark.parametrize("decay", [-0.1, 1.0, float("nan")])
def test_bad_decay_is_refused(decay, records, tmp_path):
    with pytest.raises(ValueError, match="ema_decay"):
        check_decay(decay)
    proc = run(train_cmd(records, tmp_path / "bad", "--num_steps=1", f"--ema_decay={decay}"))
    assert proc.returncode != 0 and "ema_decay" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
