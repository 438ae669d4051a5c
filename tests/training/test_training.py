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
from tfdet.datasets import get_reader
from tfdet.records import writer

TRAIN = os.path.join(REPO, "tools", "train.py")
TINY = os.path.join(REPO, "configs", "tiny_cpu.cfg")
QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("train_records")
    writer.convert(get_reader("synthetic", num_images=8, seed=11), str(out), num_shards=2, progress=False)
    return os.path.join(str(out), "*.tfrecord")


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


def test_mirrored_two_cpus_matches_one_device(records, tmp_path):
    one = run(train_cmd(records, tmp_path / "one", "--num_steps=3", "--strategy=one_device"))
    two = run(train_cmd(records, tmp_path / "two", "--num_steps=3", "--strategy=mirrored", "--num_cpu_devices=2"))
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = summary_of(one), summary_of(two)
    assert b["replicas"] == 2 and a["replicas"] == 1
    assert a["final_loss"] == pytest.approx(b["final_loss"], rel=1e-4)
    assert a["final_box_loss"] == pytest.approx(b["final_box_loss"], rel=1e-4)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_two_processes(records, tmp_path):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**QUIET, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        cmd = ["timeout", "-s", "KILL", "240"] + train_cmd(records, tmp_path / "mw", "--num_steps=3", "--checkpoint_every=3")
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    chief = json.loads([line for line in outs[0][0].splitlines() if line.startswith("{")][-1])
    assert chief["steps"] == 3 and chief["replicas"] == 2
    assert os.path.exists(tmp_path / "mw" / "ckpt-3.index")
    assert not [n for n in os.listdir(tmp_path / "mw") if n.startswith(".worker_tmp")]


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
    open(os.path.join(folder, "run_config.json"), "w").write("{}")
    with pytest.raises(ValueError, match="not a readable tfdet run config"):
        RunConfig.load(folder)
