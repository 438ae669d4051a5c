"""Detector + recogniser in one SavedModel.

`serving_default` (encoded images), `serving_image_tensor` and `serving_tf_example` return the
detector's outputs plus, per detection, `detection_labels` (string: the nearest gallery entry's
label, "" past num_detections), `detection_label_scores` (its cosine similarity) and
`detection_embeddings` [batch, K, D]. `serving_embed` takes encoded crops (one object each) and
returns `embeddings`, `labels` and `label_scores`. Detections are cropped from the decoded
original image (not the network input) with the crop function training used.

The gallery is two variables inside the SavedModel (`gallery_embeddings`, `gallery_labels`);
swapping it is re-exporting with another gallery file: detector and embedder weights are
copied unchanged from their checkpoints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from tfdet import keys
from tfdet.postprocess import PostprocessConfig
from tfdet.recognition.crops import crop_boxes, crop_whole
from tfdet.serving.module import DetectorModule, decode_bounded

SIGNATURE_EMBED = "serving_embed"
OUT_LABELS = "detection_labels"
OUT_LABEL_SCORES = "detection_label_scores"
OUT_EMBEDDINGS = "detection_embeddings"


class RecognizerModule(tf.Module):
    def __init__(self, detector: DetectorModule, embedder, gallery, crop_size: int, crop_margin: float):
        super().__init__(name="tfdet_recognizer")
        if not len(gallery):
            raise ValueError("the gallery is empty: build it with tools/build_gallery.py first")
        self.detector = detector
        self.embedder = embedder
        self.crop_size = int(crop_size)
        self.crop_margin = float(crop_margin)
        self.embedding_size = int(gallery.embeddings.shape[1])
        # explicit tf.Variables for the C++ loader (see DetectorModule.model_variables)
        self.embedder_variables = [getattr(v, "value", v) for v in embedder.variables]
        self.gallery_embeddings = tf.Variable(gallery.embeddings, trainable=False, name="gallery_embeddings")
        self.gallery_labels = tf.Variable(tf.constant(list(gallery.names), tf.string), trainable=False, name="gallery_labels")

    # -- pieces ---------------------------------------------------------------------------
    def _embed(self, crops):
        """float32 crops [N, S, S, 3] -> embeddings [N, D] (an empty batch gives an empty answer)."""
        return tf.cond(tf.shape(crops)[0] > 0, lambda: tf.cast(self.embedder(crops, training=False), tf.float32),
                       lambda: tf.zeros([0, self.embedding_size]))

    def _nearest_label(self, embeddings):
        """-> (nearest gallery label [N], its similarity [N])."""
        similarity = tf.matmul(embeddings, self.gallery_embeddings, transpose_b=True)
        nearest = tf.argmax(similarity, axis=1, output_type=tf.int32)
        return tf.gather(self.gallery_labels, nearest), tf.reduce_max(similarity, axis=1)

    def _recognize(self, detections, crops):
        """Detector outputs + crops [B, K, S, S, 3] of every detection slot -> outputs with labels."""
        k, s = self.detector.post_config.max_detections, self.crop_size
        valid = tf.sequence_mask(detections[keys.OUT_NUM], k)  # [B, K]
        flat_valid = tf.reshape(valid, [-1])
        where = tf.where(flat_valid)
        embeddings = self._embed(tf.boolean_mask(tf.reshape(crops, [-1, s, s, 3]), flat_valid))
        labels, scores = self._nearest_label(embeddings)
        total = tf.shape(flat_valid, out_type=tf.int64)
        batch = tf.shape(valid)[0]
        out = dict(detections)
        out[OUT_EMBEDDINGS] = tf.reshape(tf.scatter_nd(where, embeddings, tf.concat([total, [self.embedding_size]], 0)),
                                         [batch, k, self.embedding_size])
        out[OUT_LABEL_SCORES] = tf.reshape(tf.scatter_nd(where, scores, total), [batch, k])
        out[OUT_LABELS] = tf.where(valid, tf.reshape(tf.scatter_nd(where, labels, total), [batch, k]), "")
        return out

    def _crops_of_encoded(self, encoded, boxes):
        k, s = self.detector.post_config.max_detections, self.crop_size

        def one(args):
            data, image_boxes = args
            image, original = decode_bounded(data, self.detector.size, self.detector.max_pixels)
            scale = tf.cast(tf.shape(image)[:2], tf.float32) / original  # decoded / original (JPEG DCT scaling)
            return crop_boxes(image, image_boxes * tf.tile(scale, [2]), s, self.crop_margin)

        return tf.map_fn(one, (encoded, boxes), fn_output_signature=tf.TensorSpec([k, s, s, 3], tf.float32))

    def _from_encoded(self, encoded):
        detections = self.detector.serve_encoded(encoded)
        return self._recognize(detections, self._crops_of_encoded(encoded, detections[keys.OUT_BOXES]))

    # -- signatures -------------------------------------------------------------------------
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve_encoded(self, images):
        return self._from_encoded(images)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve_image_tensor(self, images):
        k, s = self.detector.post_config.max_detections, self.crop_size
        detections = self.detector.serve_image_tensor(images)
        crops = tf.map_fn(lambda args: crop_boxes(args[0], args[1], s, self.crop_margin), (images, detections[keys.OUT_BOXES]),
                          fn_output_signature=tf.TensorSpec([k, s, s, 3], tf.float32))
        return self._recognize(detections, crops)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_example(self, examples):
        parsed = tf.io.parse_example(examples, {keys.IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string)})
        return self._from_encoded(parsed[keys.IMAGE_ENCODED])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve_embed(self, images):
        s = self.crop_size

        def one(data):
            image, _ = decode_bounded(data, s, self.detector.max_pixels)
            return crop_whole(image, s)

        crops = tf.map_fn(one, images, fn_output_signature=tf.TensorSpec([s, s, 3], tf.float32))
        embeddings = self._embed(crops)
        labels, scores = self._nearest_label(embeddings)
        return {"embeddings": embeddings, "labels": labels, "label_scores": scores}


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def export_recognizer(detector_path: str, embedder_path: str, gallery_path: str, export_dir: str, version: int | None = None,
                      post: PostprocessConfig | None = None, size: int | None = None) -> str:
    """Write export_dir/<version>/ (atomically): detector + embedder + gallery. Re-exporting with
    another gallery file swaps the gallery; the weights come from the same checkpoints."""
    from tfdet.recognition.gallery import Gallery, check_embedder
    from tfdet.recognition.train import load_embedder
    from tfdet.serving.export import load_trained_model, make_module, staging_folder

    model, config, detector_ckpt = load_trained_model(detector_path)
    embedder, embedder_config, embedder_ckpt = load_embedder(embedder_path)
    gallery = Gallery.load(gallery_path)
    check_embedder(gallery, embedder_config, embedder_ckpt, gallery_path, embedder_path)
    post = dataclasses.replace(post or PostprocessConfig(), classification_loss=config.model.classification_loss)
    module = RecognizerModule(make_module(model, config, post, size), embedder, gallery, embedder_config.model.input_size,
                              embedder_config.model.crop_margin)
    final, tmp = staging_folder(export_dir, version)
    signatures = {keys.SIGNATURE_ENCODED: module.serve_encoded, keys.SIGNATURE_IMAGE_TENSOR: module.serve_image_tensor,
                  keys.SIGNATURE_TF_EXAMPLE: module.serve_tf_example, SIGNATURE_EMBED: module.serve_embed}
    tf.saved_model.save(module, tmp, signatures=signatures)
    extra = os.path.join(tmp, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    shutil.copy(gallery_path, os.path.join(extra, "gallery.npz"))
    with open(os.path.join(extra, "anchor_config.json"), "w") as f:
        f.write(config.anchors.to_json())
    with open(os.path.join(extra, "export.json"), "w") as f:
        json.dump({"detector_checkpoint": os.path.abspath(detector_ckpt), "embedder_checkpoint": os.path.abspath(embedder_ckpt),
                   "gallery": os.path.abspath(gallery_path), "gallery_sha256": _sha256(gallery_path),
                   "gallery_entries": len(gallery), "gallery_labels": len(gallery.labels), "input_size": module.detector.size,
                   "crop_size": module.crop_size, "crop_margin": module.crop_margin,
                   "postprocess": dataclasses.asdict(post), "embedder": embedder_config.to_dict()}, f, indent=1, sort_keys=True)
    os.replace(tmp, final)
    return final
