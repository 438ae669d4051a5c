"""The demo: the whole job on the embedded synthetic dataset, with the real tools.

Each step runs a tool in its own process, as a user would, and its command is printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool(name: str) -> str:
    return os.path.join(REPO, "tools", f"{name}.py")


def _run(step: str, args: list[str], log) -> dict:
    cmd = [sys.executable] + args
    log(f"\n== {step}\n$ {' '.join(cmd)}")
    start = time.time()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=env, cwd=REPO)
    last = None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.startswith("{"):
            last = line
    proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{step} failed (exit {proc.returncode}); see the messages above")
    result = json.loads(last) if last else {}
    result["_seconds"] = round(time.time() - start, 1)
    return result


def run(FLAGS, log=print) -> int:
    out = os.path.abspath(FLAGS.output_dir)
    os.makedirs(out, exist_ok=True)
    records = os.path.join(out, "records")
    started = time.time()
    try:
        counts = {}
        for split, n, seed in (("train", FLAGS.num_train_images, 1), ("val", FLAGS.num_val_images, 2), ("test", FLAGS.num_test_images, 3)):
            r = _run(f"synthetic {split} split ({n} images, seed {seed})",
                     [_tool("make_tfrecord"), "--dataset=synthetic", f"--num_images={n}", f"--seed={seed}", f"--split={split}",
                      f"--output_dir={os.path.join(records, split)}", f"--num_shards={4 if split == 'train' else 1}",
                      f"--num_workers={FLAGS.num_workers}"], log)
            counts[split] = {"images": r["images"], "objects": r["objects"], "dont_care": r["dont_care"]}
        train_glob = os.path.join(records, "train", "train-*.tfrecord")
        config = os.path.join(REPO, FLAGS.config) if not os.path.isabs(FLAGS.config) else FLAGS.config
        flagfiles = [f"--flagfile={config}"]
        anchors = None
        if FLAGS.optimize_anchors:
            anchor_file = os.path.join(out, "anchors", "synthetic.cfg")
            anchors = _run("anchor optimisation", [_tool("optimize_anchors"), f"--flagfile={config}", f"--records={train_glob}",
                                                    f"--output={anchor_file}", f"--sizes={FLAGS.sizes}", "--num_ratios=4"], log)
            flagfiles.append(f"--flagfile={anchor_file}")
        model_dir = os.path.join(out, "run")
        train = _run("training", [_tool("train")] + flagfiles + [f"--train_records={train_glob}", f"--model_dir={model_dir}",
                                                                 f"--num_steps={FLAGS.num_steps}", f"--sizes={FLAGS.sizes}",
                                                                 f"--batch_size={FLAGS.batch_size}", f"--precision={FLAGS.precision}",
                                                                 f"--train_minutes={FLAGS.train_minutes}"], log)
        val = _run("score threshold on the validation split", [_tool("evaluate"), f"--model={model_dir}", "--protocol=icdar2015",
                                                                f"--records={os.path.join(records, 'val', '*.tfrecord')}",
                                                                f"--output_dir={os.path.join(out, 'eval_val')}", "--pictures=0"], log)
        threshold = float(val["best"]["score_threshold"])
        test = _run(f"held-out test split, ICDAR 2015 protocol, score threshold {threshold:.2f}",
                    [_tool("evaluate"), f"--model={model_dir}", "--protocol=icdar2015", f"--score_threshold={threshold}",
                     f"--records={os.path.join(records, 'test', '*.tfrecord')}", f"--output_dir={os.path.join(out, 'eval_test')}",
                     "--pictures=8"], log)
        export_base = os.path.join(out, "export", "synthetic_text")
        shutil.rmtree(export_base, ignore_errors=True)
        exported = _run("export", [_tool("export"), f"--model_dir={model_dir}", f"--export_dir={export_base}",
                                   f"--score_threshold={threshold}"], log)
        saved_model = exported["saved_model"]
        check = ("import sys, tensorflow as tf; m = tf.saved_model.load(sys.argv[1]); "
                 "out = m.signatures['serving_default'](images=tf.constant([open(sys.argv[2], 'rb').read()])); "
                 "assert 'tfdet' not in sys.modules; print('{\"fresh_process_detections\": %d}' % int(out['num_detections'][0]))")
        sample_image = _first_image(os.path.join(records, "test"))
        fresh = _run("SavedModel in a fresh process (no tfdet import)", ["-c", check, saved_model, sample_image], log)
        real = None
        if FLAGS.real_images and os.path.isdir(FLAGS.real_images):
            real = _run("real ICDAR 2015 images (a different source)", [_tool("evaluate"), f"--model={saved_model}", "--protocol=icdar2015",
                                                                         "--dataset=icdar2015", f"--image_dir={os.path.join(FLAGS.real_images, 'images')}",
                                                                         f"--annotations={os.path.join(FLAGS.real_images, 'gt')}",
                                                                         f"--output_dir={os.path.join(out, 'eval_real')}"], log)
    except (RuntimeError, KeyError, ValueError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    report = {
        "precision": test["precision"],
        "recall": test["recall"],
        "hmean": test["hmean"],
        "score_threshold": threshold,
        "train_seconds": train["train_seconds"],
        "train_images_per_second": train["images_per_second"],
        "train_steps": train["steps"],
        "train_loss_first_steps": train.get("loss_first_steps"),
        "train_loss_last_steps": train.get("loss_last_steps"),
        "train_minutes_budget": FLAGS.train_minutes,
        "stopped_by_time_budget": train.get("stopped_by_time_budget"),
        "train_precision": train.get("precision"),
        "train_precision_reason": train.get("precision_reason"),
        "saved_model": saved_model,
        "pictures": os.path.join(out, "eval_test", "pictures"),
        "pr_curve": os.path.join(out, "eval_test", "pr_curve.png"),
        "dataset": counts,
        "anchors": {"default_bpr": anchors["default"]["best_possible_recall"], "optimized_bpr": anchors["optimized"]["best_possible_recall"]} if anchors else None,
        "fresh_process_detections": fresh.get("fresh_process_detections"),
        "total_seconds": round(time.time() - started, 1),
    }
    if real:
        report["real_icdar2015"] = {k: real[k] for k in ("precision", "recall", "hmean")}
    log("\n== report")
    log(f"dataset: {counts['train']['images']} training images ({counts['train']['objects']} words), "
        f"{counts['val']['images']} validation, {counts['test']['images']} held-out test images")
    budget = f", stopped by the {FLAGS.train_minutes:g}-minute budget" if train.get("stopped_by_time_budget") else ""
    log(f"training: {train['steps']} of {FLAGS.num_steps} steps in {train['train_seconds']:.0f} s "
        f"({train['images_per_second']:.1f} images/s{budget}), {train.get('precision')} ({train.get('precision_reason')})")
    log(f"held-out test (ICDAR 2015 protocol, score >= {threshold:.2f}): precision {test['precision']:.3f}, "
        f"recall {test['recall']:.3f}, Hmean {test['hmean']:.3f}")
    log(f"SavedModel: {saved_model}")
    log(f"pictures: {report['pictures']}  PR curve: {report['pr_curve']}")
    log(json.dumps(report))
    return 0


def _first_image(records_dir: str) -> str:
    from tfdet.records.codec import read_samples

    sample = next(read_samples(os.path.join(records_dir, "*.tfrecord")))
    path = os.path.join(records_dir, "sample_" + os.path.basename(sample.filename))
    with open(path, "wb") as f:
        f.write(sample.image)
    return path
