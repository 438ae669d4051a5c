"""best/: the checkpoint that scored best on the validation split, kept beside a run's checkpoints.

`best/ckpt` holds the weights that were evaluated (the weight average with --ema_decay) and
`best/best.json` what chose them: the figure (`key`, the resolved --best_metric), its value (`metric`),
the step, the --best_metric asked for, the evaluation protocol and every number of that evaluation. A
run continued on the same folder reads best.json back, so it only replaces best/ with a better
checkpoint, and refuses to go on with another figure or protocol (their values do not compare). The early-stopping count (evaluations
since the best) is training state: the trainer keeps it in every checkpoint, beside the step.
"""

from __future__ import annotations

import dataclasses
import json
import os

BEST_DIR = "best"
BEST_JSON = "best.json"


@dataclasses.dataclass
class Best:
    """The best evaluation so far: the figure that ranks them, its value and step (None before any)."""

    key: str
    metric: float | None = None
    step: int | None = None

    def improved_by(self, value) -> bool:
        return value is not None and (self.metric is None or value > self.metric)

    def summary(self) -> dict:
        return {"metric": self.metric, "key": self.key, "step": self.step}


def best_json_path(model_dir: str) -> str:
    return os.path.join(model_dir, BEST_DIR, BEST_JSON)


def load_best(model_dir: str, key: str, best_metric: str, protocol: str) -> Best:
    """The best of the run in `model_dir` (best.json), or an empty Best when it has none yet. ValueError when
    best/ was chosen by another figure than `key` (what `best_metric` resolves to) or under another protocol, or
    best.json is unreadable."""
    path = best_json_path(model_dir)
    if not os.path.exists(path):
        return Best(key)
    try:
        with open(path) as f:
            stored = json.load(f)
        best = Best(str(stored["key"]), stored["metric"], int(stored["step"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not readable ({exc}): move {os.path.dirname(path)} away to start the best afresh") from None
    if best.key != key:
        asked = stored.get("best_metric", best.key)
        raise ValueError(f"the run in {model_dir} keeps in best/ the checkpoint with the best {best.key} "
                         f"(--best_metric={asked}); this run would rank checkpoints by {key} (--best_metric={best_metric}), "
                         f"whose values do not compare: continue it with --best_metric={asked}, or use a new --model_dir")
    if stored.get("protocol", protocol) != protocol:
        raise ValueError(f"the run in {model_dir} keeps in best/ the checkpoint with the best {best.key} under "
                         f"--eval_protocol={stored['protocol']}; this run evaluates with --eval_protocol={protocol}, whose "
                         f"{key} does not compare: continue it with --eval_protocol={stored['protocol']}, or use a new --model_dir")
    return best


def save_best(model_dir: str, model, best: Best, best_metric: str, protocol: str, metrics: dict, weights: str):
    """Write best/ckpt (the model's current weights) and best/best.json."""
    import tensorflow as tf

    best_dir = os.path.join(model_dir, BEST_DIR)
    tf.train.Checkpoint(model=model).write(os.path.join(best_dir, "ckpt"))
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    record = {**best.summary(), "best_metric": best_metric, "protocol": protocol, **numbers, "weights": weights}
    tmp = best_json_path(model_dir) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, best_json_path(model_dir))
