"""The one place where tf.train.Example keys and shared names are spelled.

The schema is a superset of the TensorFlow Object Detection API / Model Garden
keys (see DESIGN.md, "Record schema").
"""

IMAGE_ENCODED = "image/encoded"
IMAGE_FORMAT = "image/format"
IMAGE_HEIGHT = "image/height"
IMAGE_WIDTH = "image/width"
IMAGE_FILENAME = "image/filename"
IMAGE_SOURCE_ID = "image/source_id"
IMAGE_SHA256 = "image/key/sha256"

BBOX_XMIN = "image/object/bbox/xmin"
BBOX_YMIN = "image/object/bbox/ymin"
BBOX_XMAX = "image/object/bbox/xmax"
BBOX_YMAX = "image/object/bbox/ymax"

QUAD_X = tuple(f"image/object/quad/x{i}" for i in range(1, 5))
QUAD_Y = tuple(f"image/object/quad/y{i}" for i in range(1, 5))

CLASS_LABEL = "image/object/class/label"
CLASS_TEXT = "image/object/class/text"
# class-agnostic records (label 1 "object"): the category each object had before, 1-based
CLASS_ORIGINAL_LABEL = "image/object/class/original_label"
DIFFICULT = "image/object/difficult"
IS_CROWD = "image/object/is_crowd"
AREA = "image/object/area"
OBJECT_TEXT = "image/object/text"
OBJECT_SCRIPT = "image/object/script"

# Serving signature names and output keys (DESIGN.md, "Serving contract").
SIGNATURE_ENCODED = "serving_default"
SIGNATURE_IMAGE_TENSOR = "serving_image_tensor"
SIGNATURE_TF_EXAMPLE = "serving_tf_example"
OUT_QUADS = "detection_quads"
OUT_BOXES = "detection_boxes"
OUT_SCORES = "detection_scores"
OUT_CLASSES = "detection_classes"
OUT_NUM = "num_detections"

DONT_CARE_TEXT = "###"
TEXT_CLASS_NAME = "text"
OBJECT_CLASS_NAME = "object"  # the one class of class-agnostic detection
DATASET_JSON = "dataset.json"
