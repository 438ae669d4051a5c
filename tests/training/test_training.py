"""Training runs in subprocesses (logical devices and TF_CONFIG must be set before TF starts)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

TRAIN = os.path.join(REPO, "tools", "train.py")
TINY = os.path.join(REPO, "configs", "tiny_cpu.cfg")
QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def train_cmd(records, model_dir, *extra):
    return [sys.executable, TRAIN, f"--flagfile={TINY}", f"--train_records={records}", f"--model_dir={model_dir}",
            "--sizes=128", "--batch_size=4", "--noprogress", "--precision=float32", "--deterministic", "--seed=1",
            "--crop_probability=0", "--nophotometric", "--warmup_steps=5", *extra]


def run(cmd, timeout=600, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env or QUIET)
    return proc


def summary_of(proc):
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(lines[-1])


def test_tiny_model_overfits(records, tmp_path):
    proc = run(train_cmd(records, tmp_path / "overfit", "--num_steps=120", "--learning_rate=0.004", "--checkpoint_every=120",
                         "--schedule=constant", "--log_every=10"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    import tensorflow as tf

    events = EventAccumulator(str(tmp_path / "overfit" / "train"))
    events.Reload()
    losses = [float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors("loss/total_loss")]
    assert losses[-1] < losses[0] / 3, losses
    files = os.listdir(tmp_path / "overfit")
    for name in ("run_config.json", "anchor_config.json", "flags.cfg", "train_summary.json", "checkpoint"):
        assert name in files


def _model_weights(model_dir):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
    # trainable weights are saved under the first object that tracks them: the optimizer's list
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith(("model/", "optimizer/_trainable_variables/", "ema/")) and "OPTIMIZER_SLOT" not in name}


@pytest.mark.parametrize("clip_norm", ["0", "0.05"])
def test_mirrored_two_cpus_matches_one_device(records, tmp_path, clip_norm):
    """One SGD step (plain L2 decay, and with clipping far below the gradient norm) gives the same
    weights on 2 replicas as on one device: gradients are summed, not averaged, and clipped after the sum.
    The weight average (--ema_decay, updated in the cross-replica context) is the same too."""
    args = ("--num_steps=1", "--optimizer=sgd", "--learning_rate=0.05", "--warmup_steps=0", "--schedule=constant",
            "--weight_decay=0.01", f"--clip_norm={clip_norm}", "--ema_decay=0.9")
    one = run(train_cmd(records, tmp_path / "one", *args, "--strategy=one_device"))
    two = run(train_cmd(records, tmp_path / "two", *args, "--strategy=mirrored", "--num_cpu_devices=2"))
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = summary_of(one), summary_of(two)
    assert b["replicas"] == 2 and a["replicas"] == 1
    assert a["cpu_seconds"] > 0 and b["cpu_seconds"] > 0  # the CPU time of each run is in its summary
    assert a["final_loss"] == pytest.approx(b["final_loss"], rel=1e-4)
    import numpy as np

    w1, w2 = _model_weights(tmp_path / "one"), _model_weights(tmp_path / "two")
    assert w1.keys() == w2.keys() and len(w1) > 10 and any(n.startswith("ema/averages/") for n in w1)
    moved = 0.0
    for name in w1:
        np.testing.assert_allclose(w1[name], w2[name], rtol=2e-4, atol=2e-6, err_msg=name)
    init = _model_weights_at_init(records, tmp_path)
    moved = np.sqrt(sum(np.sum((w1[n] - init[n]) ** 2) for n in init))
    if clip_norm != "0":  # the update is lr x (clipped gradient + L2 term): its size is bounded by the clip
        bound = 0.05 * (0.05 + 0.01 * np.sqrt(sum(np.sum(init[n] ** 2) for n in init)))
        assert 0 < moved <= bound * 1.01, (moved, bound)
    else:
        assert moved > 0.05 * 0.05  # unclipped, the gradient norm is far above the clip used above


def _model_weights_at_init(records, tmp_path):
    folder = tmp_path / "init"
    if not folder.exists():
        proc = run(train_cmd(records, folder, "--num_steps=1", "--optimizer=sgd", "--learning_rate=1e-30", "--warmup_steps=0",
                             "--schedule=constant", "--weight_decay=0", "--clip_norm=0"))
        assert proc.returncode == 0, proc.stderr[-3000:]
    return _model_weights(folder)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_workers(records, model_dir, *extra, kill_after=300, while_running=None):
    """Train on a two-worker cluster (MultiWorkerMirroredStrategy), each worker under `timeout -s KILL` so that a
    worker left waiting in an all-reduce cannot hang the suite. `while_running(procs)` is called once both run.
    -> the workers' summaries (chief first); each worker must exit 0."""
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**QUIET, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        cmd = ["timeout", "-s", "KILL", str(kill_after)] + train_cmd(records, model_dir, *extra)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    if while_running is not None:
        while_running(procs)
    outs = [p.communicate(timeout=kill_after + 60) for p in procs]
    for index, (p, (out, err)) in enumerate(zip(procs, outs)):
        killed = " (killed by timeout: a worker was left waiting)" if p.returncode == -signal.SIGKILL or p.returncode == 137 else ""
        assert p.returncode == 0, f"worker {index} exit {p.returncode}{killed}\n{out[-1500:]}\n{err[-3000:]}"
    return [json.loads([line for line in out.splitlines() if line.startswith("{")][-1]) for out, _ in outs]


def test_multi_worker_two_processes(records, tmp_path):
    chief, _ = two_workers(records, tmp_path / "mw", "--num_steps=3", "--checkpoint_every=3", "--ema_decay=0.9")
    assert chief["steps"] == 3 and chief["replicas"] == 2
    assert os.path.exists(tmp_path / "mw" / "ckpt-3.index")
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(tmp_path / "mw" / "ckpt-3"))
    assert reader.get_tensor("ema/updates/.ATTRIBUTES/VARIABLE_VALUE") == 3  # the weight average, kept across workers
    assert not [n for n in os.listdir(tmp_path / "mw") if n.startswith(".worker_tmp")]


def test_multi_worker_validation_and_early_stopping_end_together(records, tmp_path):
    """Validation records are read after the strategy exists (reading them first broke collective start-up), and
    the chief's early-stopping decision stops the other worker at the same step. A learning rate of 1e-9 keeps
    the Hmean of step 1 unbeaten, so patience 1 stops at step 2."""
    chief, worker = two_workers(records, tmp_path / "mw", "--num_steps=40", "--checkpoint_every=100", f"--val_records={records}",
                                "--eval_every=1", "--early_stopping_patience=1", "--best_metric=hmean", "--learning_rate=1e-9",
                                "--train_minutes=30", "--eval_size=128")
    assert chief["early_stopped_at"] == worker["early_stopped_at"] == 2 == chief["steps"] == worker["steps"]
    assert chief["best"]["step"] == 1 and os.path.exists(tmp_path / "mw" / "best" / "best.json")
    assert os.path.exists(tmp_path / "mw" / "ckpt-2.index")  # the stopping step, saved by both workers together
    assert not [n for n in os.listdir(tmp_path / "mw") if n.startswith(".worker_tmp")]


@pytest.mark.parametrize("reason", ["budget", "signal"])
def test_multi_worker_time_budget_and_signal_end_together(records, tmp_path, reason):
    """The time budget (each worker has its own clock) and a signal sent to one worker stop both at one step."""
    model_dir = tmp_path / "mw"

    def stop_worker_1(procs):
        deadline = time.time() + 240
        while time.time() < deadline and not (model_dir / "ckpt-1.index").exists():
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGTERM)  # to `timeout`, which passes it on to the worker

    extra = ("--train_minutes=0.05",) if reason == "budget" else ("--checkpoint_every=1",)
    chief, worker = two_workers(records, model_dir, "--num_steps=100000", f"--val_records={records}", "--eval_size=128", *extra,
                                while_running=stop_worker_1 if reason == "signal" else None)
    assert chief["steps"] == worker["steps"] < 100000
    assert chief[f"stopped_by_{'time_budget' if reason == 'budget' else 'signal'}"] is True
    assert worker[f"stopped_by_{'time_budget' if reason == 'budget' else 'signal'}"] is True
    assert os.path.exists(model_dir / f"ckpt-{chief['steps']}.index")
    if reason == "budget":  # the last step reached is evaluated, as the last of --num_steps would be
        assert chief["best"]["step"] == chief["steps"]


def test_sigkill_and_resume_keeps_step(records, tmp_path):
    model_dir = tmp_path / "killed"
    cmd = train_cmd(records, model_dir, "--num_steps=400", "--checkpoint_every=5")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=QUIET)
    deadline = time.time() + 300
    while time.time() < deadline:
        if os.path.exists(model_dir / "checkpoint") and any(n.startswith("ckpt-1") for n in os.listdir(model_dir)):
            break
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    import tensorflow as tf

    saved = int(tf.train.latest_checkpoint(str(model_dir)).rsplit("-", 1)[1])
    assert saved >= 5
    # the run's own resolved flags.cfg is enough to continue it
    again = run([sys.executable, TRAIN, f"--flagfile={model_dir / 'flags.cfg'}", f"--num_steps={saved + 3}"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming from step {saved}" in again.stdout + again.stderr
    summary = summary_of(again)
    assert summary["start_step"] == saved and summary["steps"] == saved + 3


def test_nan_loss_stops_with_message(records, tmp_path):
    proc = run(train_cmd(records, tmp_path / "nan", "--num_steps=50", "--learning_rate=1e12", "--clip_norm=0",
                         "--optimizer=sgd", "--warmup_steps=0", "--checkpoint_every=1", "--schedule=constant"))
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "training stopped" in proc.stderr and "Traceback" not in proc.stderr
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(tmp_path / "nan"))
    if latest:  # the last checkpoint on disk was written before the bad step
        reader = tf.train.load_checkpoint(latest)
        import numpy as np

        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            if hasattr(value, "dtype") and np.issubdtype(getattr(value, "dtype", np.float32), np.floating):
                assert np.isfinite(value).all(), name


def test_anchor_mismatch_is_an_error(records, tmp_path):
    first = run(train_cmd(records, tmp_path / "mm", "--num_steps=1"))
    assert first.returncode == 0, first.stderr[-2000:]
    second = run(train_cmd(records, tmp_path / "mm", "--num_steps=2", "--anchor_aspect_ratios=1,3"))
    assert second.returncode == 2 and "other anchors" in second.stderr


def test_run_config_round_trip_and_older_folders(tmp_path):
    from tfdet.benchmark import make_untrained_run
    from tfdet.training.config import RunConfig

    folder = make_untrained_run(str(tmp_path / "run"))
    config = RunConfig.load(folder)
    assert RunConfig.from_dict(config.to_dict()) == config
    # a folder written by a version with a field since removed still loads
    data = json.load(open(os.path.join(folder, "run_config.json")))
    data["input"]["max_gt"] = 200
    data["retired_option"] = 1
    json.dump(data, open(os.path.join(folder, "run_config.json"), "w"))
    assert RunConfig.load(folder) == config
    # a folder from before the evaluation protocol was recorded there: its flags.cfg says which it was
    del data["eval_protocol"]
    json.dump(data, open(os.path.join(folder, "run_config.json"), "w"))
    assert RunConfig.load(folder).eval_protocol == "icdar2015"
    open(os.path.join(folder, "flags.cfg"), "w").write("--num_classes=10\n--eval_protocol=coco_quad\n--noprogress\n")
    assert RunConfig.load(folder).eval_protocol == "coco_quad"
    open(os.path.join(folder, "run_config.json"), "w").write("{}")
    with pytest.raises(ValueError, match="not a readable tfdet run config"):
        RunConfig.load(folder)


def test_resume_refuses_other_anchors_and_normalisation(records, tmp_path):
    source = tmp_path / "stage1"
    first = run(train_cmd(records, source, "--num_steps=1"))
    assert first.returncode == 0, first.stderr[-2000:]
    # same number of ratios, other values: each head slot would silently serve another anchor shape
    other = run(train_cmd(records, tmp_path / "b", "--num_steps=1", f"--resume={source}", "--anchor_aspect_ratios=1,3,5,7"))
    assert other.returncode == 2 and "other anchors" in other.stderr and "--allow_anchor_change" in other.stderr, other.stderr[-2000:]
    allowed = run(train_cmd(records, tmp_path / "c", "--num_steps=1", f"--resume={source}", "--anchor_aspect_ratios=1,3,5,7",
                            "--allow_anchor_change"))
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert "output layers start afresh" in allowed.stdout + allowed.stderr
    count = run(train_cmd(records, tmp_path / "d", "--num_steps=1", f"--resume={source}", "--anchor_aspect_ratios=1,2",
                          "--allow_anchor_change"))
    assert count.returncode == 2 and "anchors per location" in count.stderr, count.stderr[-2000:]
    norm = run(train_cmd(records, tmp_path / "e", "--num_steps=1", f"--resume={source}", "--input_normalization=caffe"))
    assert norm.returncode == 2 and "input_normalization" in norm.stderr, norm.stderr[-2000:]
    same = run(train_cmd(records, tmp_path / "f", "--num_steps=1", f"--resume={source}"))
    assert same.returncode == 0 and "initialised weights from" in same.stdout + same.stderr, same.stderr[-2000:]


def test_time_budget_stops_training_and_records_precision(records, tmp_path):
    model_dir = tmp_path / "budget"
    proc = run(train_cmd(records, model_dir, "--num_steps=100000", "--train_minutes=0.1", "--checkpoint_every=100000",
                         "--precision=auto"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = summary_of(proc)
    assert summary["stopped_by_time_budget"] is True and 1 <= summary["steps"] < 100000
    assert "time budget of 0.1 minutes reached" in proc.stdout + proc.stderr
    import tensorflow as tf

    assert tf.train.latest_checkpoint(str(model_dir)).endswith(f"ckpt-{summary['steps']}")
    chosen = json.load(open(model_dir / "precision.json"))
    assert chosen["requested"] == "auto" and chosen["policy"] == summary["precision"] and chosen["reason"]
    # the budget is spent: running again does nothing
    again = run(train_cmd(records, model_dir, "--num_steps=100000", "--train_minutes=0.1", "--precision=auto"))
    assert again.returncode == 0 and "nothing to do" in again.stdout + again.stderr


def test_unknown_precision_is_a_flag_error(records, tmp_path):
    proc = run(train_cmd(records, tmp_path / "p", "--num_steps=1", "--precision=half"))
    assert proc.returncode != 0 and "auto" in proc.stderr and "mixed_bfloat16" in proc.stderr
