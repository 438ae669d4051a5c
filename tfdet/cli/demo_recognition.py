"""The recognition demo: detect any product, then name it from a gallery, on synthetic shelves.

A catalog of products is split into identities seen in training and identities that only ever
appear in the gallery and the test images. Every step runs a tool in its own process, as a user
would: shelves -> class-agnostic records -> detector (COCO AP on the test shelves) -> embedder
(triplet loss on the seen products) -> gallery (crops of separate gallery shelves) -> recognition
top-1 on the test shelves' ground-truth crops, seen and never seen -> one SavedModel -> a check in
a fresh process. The 'coco' part trains and scores the class-agnostic detector on real COCO samples.
"""

from __future__ import annotations

import json
import os
import sys
import time

from tfdet.cli.demo import REPO, _first_image, _run, _tool


def _path(p: str) -> str:
    return p if os.path.isabs(p) else os.path.join(REPO, p)


def _convert(name, images, annotations, output, split, workers, log):
    return _run(f"class-agnostic records: {name}", [_tool("make_tfrecord"), "--dataset=coco", "--class_agnostic",
                                                    f"--image_dir={images}", f"--annotations={annotations}",
                                                    f"--output_dir={output}", f"--split={split}", "--num_shards=2",
                                                    f"--num_workers={workers}", "--noprogress"], log)


def _coco_numbers(result) -> dict:
    return {"AP": result.get("mAP"), "AP50": result.get("mAP_50"), "AP75": result.get("mAP_75")}


def shelves_part(FLAGS, out, log) -> dict:
    seen = f"0-{FLAGS.seen_products}"
    data, records = os.path.join(out, "data"), os.path.join(out, "records")
    splits = (("train", FLAGS.num_train_images, 1, seen), ("test", FLAGS.num_test_images, 3, ""),
              ("gallery", FLAGS.num_gallery_images, 4, ""))
    counts = {}
    for split, n, seed, products in splits:
        made = _run(f"synthetic shelves: {split} ({n} images, products {products or 'all'})",
                    [_tool("make_shelves"), f"--output_dir={os.path.join(data, split)}", f"--num_images={n}", f"--seed={seed}",
                     f"--num_products={FLAGS.num_products}", f"--products={products}"], log)
        _convert(split, os.path.join(data, split, "images"), os.path.join(data, split, "annotations.json"),
                 os.path.join(records, split), split, FLAGS.num_workers, log)
        counts[split] = {"images": made["images"], "objects": made["objects"], "products": made["products"]}
    glob = {split: os.path.join(records, split, f"{split}-*.tfrecord") for split, *_ in splits}
    detector_dir = os.path.join(out, "detector")
    detector = _run("class-agnostic detector training", [_tool("train"), f"--flagfile={_path(FLAGS.detector_config)}",
                                                        f"--train_records={glob['train']}", f"--model_dir={detector_dir}",
                                                        f"--num_steps={FLAGS.detector_steps}", "--noprogress"], log)
    detection = _run("detector on the test shelves (COCO protocol)",
                     [_tool("evaluate"), f"--model={detector_dir}", "--protocol=coco", f"--records={glob['test']}",
                      f"--output_dir={os.path.join(out, 'eval_detector')}", "--pictures=4", "--noprogress"], log)
    embedder_dir = os.path.join(out, "embedder")
    embedder = _run("embedder training (seen products only)",
                    [_tool("train_embedder"), f"--flagfile={_path(FLAGS.embedder_config)}", f"--train_records={glob['train']}",
                     f"--model_dir={embedder_dir}", f"--num_steps={FLAGS.embedder_steps}", "--noprogress"], log)
    gallery = os.path.join(out, "gallery.npz")
    if os.path.exists(gallery):
        os.remove(gallery)
    built = _run("gallery from the gallery shelves (all products, no training)",
                 [_tool("build_gallery"), f"--embedder={embedder_dir}", f"--records={glob['gallery']}", f"--output={gallery}",
                  f"--per_label={FLAGS.gallery_per_label}", "--noprogress"], log)
    recognition = _run("recognition of the test shelves' products (seen and never seen)",
                       [_tool("evaluate_embedder"), f"--embedder={embedder_dir}", f"--gallery={gallery}",
                        f"--records={glob['test']}", f"--output_dir={os.path.join(out, 'eval_recognition')}", "--noprogress"], log)
    export_base = os.path.join(out, "export", "shelves")
    import shutil

    shutil.rmtree(export_base, ignore_errors=True)
    exported = _run("export detector + embedder + gallery", [_tool("export_recognizer"), f"--model_dir={detector_dir}",
                                                             f"--embedder={embedder_dir}", f"--gallery={gallery}",
                                                             f"--export_dir={export_base}", "--score_threshold=0.5"], log)
    check = ("import json, sys, tensorflow as tf; m = tf.saved_model.load(sys.argv[1]); "
             "out = m.signatures['serving_default'](images=tf.constant([open(sys.argv[2], 'rb').read()])); "
             "assert 'tfdet' not in sys.modules; n = int(out['num_detections'][0]); "
             "print(json.dumps({'fresh_process_detections': n, 'labels': [v.decode() for v in out['detection_labels'][0, :n].numpy()[:5]]}))")
    fresh = _run("SavedModel in a fresh process (no tfdet import)", ["-c", check, exported["saved_model"],
                                                                   _first_image(os.path.join(records, "test"))], log)
    return {
        "detector": {**_coco_numbers(detection), "train_seconds": detector["train_seconds"], "steps": detector["steps"]},
        "recognition": {part: recognition.get(part) for part in ("seen", "unseen", "overall")},
        "embedder": {"train_seconds": embedder["train_seconds"], "steps": embedder["steps"], "labels": embedder["labels"],
                     "crops": embedder["crops"]},
        "gallery": {"entries": built["entries"], "labels": built["labels"]},
        "dataset": counts,
        "saved_model": exported["saved_model"],
        "fresh_process": fresh,
        "pictures": {"detections": os.path.join(out, "eval_detector", "pictures"),
                     "pairs": os.path.join(out, "eval_recognition", "pairs.png")},
    }


def coco_part(FLAGS, out, log) -> dict:
    root = _path(FLAGS.coco_dir)
    records = os.path.join(out, "coco_records")
    for split in ("train2017", "val2017"):
        _convert(f"COCO {split}", os.path.join(root, "images", split), os.path.join(root, "annotations", f"instances_{split}.json"),
                 os.path.join(records, split), split, FLAGS.num_workers, log)
    model_dir = os.path.join(out, "coco_detector")
    train = _run("class-agnostic detector on the COCO samples", [_tool("train"), f"--flagfile={_path(FLAGS.coco_config)}",
                                                                f"--train_records={os.path.join(records, 'train2017', '*.tfrecord')}",
                                                                f"--model_dir={model_dir}", f"--num_steps={FLAGS.coco_steps}",
                                                                "--noprogress"], log)
    result = {"train_seconds": train["train_seconds"], "steps": train["steps"]}
    for split in ("val2017", "train2017"):
        scored = _run(f"COCO {split} (COCO protocol, class-agnostic)",
                      [_tool("evaluate"), f"--model={model_dir}", "--protocol=coco",
                       f"--records={os.path.join(records, split, '*.tfrecord')}",
                       f"--output_dir={os.path.join(out, 'eval_coco_' + split)}", "--pictures=4", "--noprogress"], log)
        result[split] = _coco_numbers(scored)
    return result


def run(FLAGS, log=print) -> int:
    out = os.path.abspath(FLAGS.output_dir)
    os.makedirs(out, exist_ok=True)
    parts = {p.strip() for p in FLAGS.parts.split(",") if p.strip()}
    if not parts or parts - {"shelves", "coco"}:
        print(f"error: --parts takes 'shelves' and/or 'coco', not {FLAGS.parts!r}", file=sys.stderr)
        return 2
    if not 0 < FLAGS.seen_products < FLAGS.num_products:
        print("error: --seen_products must lie between 1 and --num_products - 1", file=sys.stderr)
        return 2
    if "coco" in parts and not os.path.isdir(_path(FLAGS.coco_dir)):
        print(f"error: --coco_dir {FLAGS.coco_dir} not found", file=sys.stderr)
        return 2
    started = time.time()
    report = {}
    try:
        if "shelves" in parts:
            report.update(shelves_part(FLAGS, out, log))
        if "coco" in parts:
            report["coco_class_agnostic"] = coco_part(FLAGS, out, log)
    except (RuntimeError, KeyError, ValueError) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    report["total_seconds"] = round(time.time() - started, 1)
    log("\n== report")
    if "detector" in report:
        d, r = report["detector"], report["recognition"]
        log(f"detector (class-agnostic, test shelves): AP {d['AP']:.3f}, AP50 {d['AP50']:.3f} after {d['train_seconds']:.0f} s")
        for part in ("seen", "unseen"):
            if r.get(part):
                log(f"recognition, {part} products: top-1 {r[part]['top1']:.3f}, top-5 {r[part]['top5']:.3f}, "
                    f"macro F1 {r[part]['macro_f1']:.3f} ({r[part]['queries']} queries)")
        log(f"embedder: {report['embedder']['train_seconds']:.0f} s; SavedModel: {report['saved_model']}")
    if "coco_class_agnostic" in report:
        c = report["coco_class_agnostic"]
        log(f"COCO samples, class-agnostic: val2017 AP {c['val2017']['AP']:.3f} AP50 {c['val2017']['AP50']:.3f}; "
            f"train2017 (fit) AP {c['train2017']['AP']:.3f} AP50 {c['train2017']['AP50']:.3f}")
    log(json.dumps(report))
    return 0
