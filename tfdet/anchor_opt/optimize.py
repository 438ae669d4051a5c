"""K-means (1 - IoU distance, k-means++ seeding) and differential-evolution anchor optimisers,
and the coverage report that compares anchor configs on the same boxes.

Best IoU of a box: against every anchor shape of every level, with the box centre
offset from the nearest anchor centre by a seeded uniform draw within half a
stride, i.e. as matching sees it, not the shape-only IoU that overstates coverage.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tfdet.anchors.config import AnchorConfig

SIZE_BUCKETS = (0, 16, 32, 64, 128, 256, 512, math.inf)


def iou_wh(boxes: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Shape-only IoU of centred boxes [N, 2] against shapes [K, 2] -> [N, K]."""
    inter = np.minimum(boxes[:, None, 0], shapes[None, :, 0]) * np.minimum(boxes[:, None, 1], shapes[None, :, 1])
    union = boxes[:, 0:1] * boxes[:, 1:2] + (shapes[:, 0] * shapes[:, 1])[None] - inter
    return inter / union


def kmeans_iou(boxes: np.ndarray, k: int, seed: int = 0, iterations: int = 100, sample: int = 200000):
    """K-means on (w, h) with distance 1 - IoU and k-means++ seeding. Deterministic for a seed.

    Returns cluster (w, h) sorted by area. Clustering runs on a seeded sample of
    at most `sample` boxes (all boxes when fewer).
    """
    rng = np.random.default_rng(seed)
    data = boxes if len(boxes) <= sample else boxes[rng.choice(len(boxes), sample, replace=False)]
    data = data.astype(np.float64)
    centers = [data[rng.integers(len(data))]]
    for _ in range(1, k):
        d = 1.0 - iou_wh(data, np.asarray(centers)).max(axis=1)
        total = d.sum()
        probs = d / total if total > 0 else np.full(len(d), 1.0 / len(d))
        centers.append(data[rng.choice(len(data), p=probs)])
    centers = np.asarray(centers)
    assign = None
    for _ in range(iterations):
        new_assign = np.argmax(iou_wh(data, centers), axis=1)
        if assign is not None and np.array_equal(new_assign, assign):
            break
        assign = new_assign
        for j in range(k):
            members = data[assign == j]
            if len(members):
                centers[j] = np.median(members, axis=0)
    return centers[np.argsort(centers[:, 0] * centers[:, 1])]


def _offsets(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 7).uniform(-0.5, 0.5, (n, 2))


def best_ious(boxes: np.ndarray, config: AnchorConfig, seed: int = 0, chunk: int = 200000) -> np.ndarray:
    """Best IoU of each box [N, 2] with any anchor, centres offset within half a stride."""
    offsets = _offsets(len(boxes), seed)
    best = np.zeros(len(boxes), np.float32)
    for start in range(0, len(boxes), chunk):
        b = boxes[start:start + chunk].astype(np.float32)
        off = offsets[start:start + chunk].astype(np.float32)
        for level in config.levels:
            shapes = np.asarray(config.shapes_per_level(level), np.float32)  # [K, 2]
            stride = 2.0 ** level
            dx = np.abs(off[:, 0:1] * stride)
            dy = np.abs(off[:, 1:2] * stride)
            bw, bh = b[:, 0:1], b[:, 1:2]
            aw, ah = shapes[None, :, 0], shapes[None, :, 1]
            iw = np.clip(np.minimum(bw / 2, dx + aw / 2) - np.maximum(-bw / 2, dx - aw / 2), 0, None)
            ih = np.clip(np.minimum(bh / 2, dy + ah / 2) - np.maximum(-bh / 2, dy - ah / 2), 0, None)
            inter = iw * ih
            iou = inter / (bw * bh + aw * ah - inter)
            part = best[start:start + chunk]
            np.maximum(part, iou.max(axis=1), out=part)
    return best


@dataclasses.dataclass
class Coverage:
    mean_best_iou: float
    best_possible_recall: float
    unmatched_by_size: dict
    anchor_range: tuple
    data_range: tuple
    narrower_than_data: bool

    def to_dict(self):
        return dataclasses.asdict(self)


def anchor_size_range(config: AnchorConfig) -> tuple:
    sizes = [math.sqrt(w * h) for level in config.levels for w, h in config.shapes_per_level(level)]
    return (min(sizes), max(sizes))


def coverage(boxes: np.ndarray, config: AnchorConfig, positive_iou: float = 0.5, seed: int = 0) -> Coverage:
    best = best_ious(boxes, config, seed)
    side = np.sqrt(boxes[:, 0] * boxes[:, 1])
    unmatched = {}
    for lo, hi in zip(SIZE_BUCKETS[:-1], SIZE_BUCKETS[1:]):
        in_bucket = (side >= lo) & (side < hi)
        if in_bucket.any():
            label = f"{lo}-{hi}" if hi != math.inf else f">={lo}"
            unmatched[label] = {"boxes": int(in_bucket.sum()), "without_positive": int((in_bucket & (best < positive_iou)).sum())}
    lo, hi = anchor_size_range(config)
    p1, p99 = (float(v) for v in np.percentile(side, [1, 99]))
    # an anchor of side s still reaches IoU 0.5 with boxes of side s/sqrt(2)..s*sqrt(2) (same shape)
    narrower = lo / math.sqrt(2) > p1 or hi * math.sqrt(2) < p99
    return Coverage(float(best.mean()), float((best >= positive_iou).mean()), unmatched, (round(lo, 2), round(hi, 2)),
                    (round(p1, 2), round(p99, 2)), bool(narrower))


def _ratio_clusters(boxes: np.ndarray, centers: np.ndarray, num_ratios: int, seed: int) -> tuple:
    """Aspect ratios: 1-D k-means of log(w/h), seeded from the IoU clusters' ratios."""
    logs = np.log(boxes[:, 0] / boxes[:, 1])
    init = np.log(centers[:, 0] / centers[:, 1])
    rng = np.random.default_rng(seed)
    qs = np.quantile(logs, np.linspace(0.05, 0.95, num_ratios))
    c = np.sort(qs if len(init) < num_ratios else np.quantile(init, np.linspace(0, 1, num_ratios)))
    sample = logs if len(logs) <= 200000 else logs[rng.choice(len(logs), 200000, replace=False)]
    for _ in range(50):
        a = np.argmin(np.abs(sample[:, None] - c[None]), axis=1)
        new = np.array([np.median(sample[a == j]) if np.any(a == j) else c[j] for j in range(num_ratios)])
        if np.allclose(new, c):
            break
        c = new
    return tuple(float(round(math.exp(v), 4)) for v in np.sort(c))


def optimize_kmeans(boxes: np.ndarray, levels: tuple, num_clusters: int = 9, num_ratios: int = 5, seed: int = 0,
                    positive_iou: float = 0.5) -> tuple[AnchorConfig, np.ndarray]:
    """K-means clusters -> AnchorConfig for the given levels (min, max).

    Aspect ratios come from the clusters (1-D refinement in log space). Sizes: one base
    per level b_l = c * 2**l (so the pyramid spans its full scale range: the trap of
    clusters that shrink the range is avoided), with c and the scales per octave
    (1-3) chosen to maximise mean best IoU on the data.
    """
    centers = kmeans_iou(boxes, num_clusters, seed)
    ratios = _ratio_clusters(boxes, centers, num_ratios, seed)
    min_level, max_level = levels
    sizes = np.sqrt(centers[:, 0] * centers[:, 1])
    level_of = np.clip(np.round(np.log2(sizes / 4.0)), min_level, max_level)  # default base = 4 * stride
    c0 = float(np.exp(np.mean(np.log(sizes / 2.0 ** level_of))))
    sample = boxes if len(boxes) <= 50000 else boxes[np.random.default_rng(seed).choice(len(boxes), 50000, replace=False)]
    best = None
    for spo in (1, 2, 3):
        for factor in np.exp(np.linspace(np.log(0.5), np.log(2.0), 13)):
            c = c0 * factor
            cfg = AnchorConfig(min_level=min_level, max_level=max_level,
                               base_sizes=tuple(round(c * 2.0 ** lvl, 2) for lvl in range(min_level, max_level + 1)),
                               aspect_ratios=ratios, scales_per_octave=spo)
            ious = best_ious(sample, cfg, seed)
            score = (float((ious >= positive_iou).mean()), float(ious.mean()))
            if best is None or score > best[0]:
                best = (score, cfg)
    return best[1], centers


def optimize_evolution(boxes: np.ndarray, levels: tuple, num_scales: int = 3, num_ratios: int = 5, seed: int = 0,
                       positive_iou: float = 0.5, max_iterations: int = 40) -> AnchorConfig:
    """fizyr-style: maximise the share of boxes with best IoU >= positive_iou by differential
    evolution over scales (in octaves) and log aspect ratios; default base sizes 4 * stride."""
    from scipy.optimize import differential_evolution

    min_level, max_level = levels
    sample = boxes if len(boxes) <= 20000 else boxes[np.random.default_rng(seed).choice(len(boxes), 20000, replace=False)]
    base = tuple(4.0 * 2.0 ** lvl for lvl in range(min_level, max_level + 1))

    def make(x):
        scales = tuple(sorted(float(round(2.0 ** v, 4)) for v in x[:num_scales]))
        ratios = tuple(sorted(float(round(math.exp(v), 4)) for v in x[num_scales:]))
        return AnchorConfig(min_level=min_level, max_level=max_level, base_sizes=base, aspect_ratios=ratios, scales=scales)

    def objective(x):
        ious = best_ious(sample, make(x), seed)
        return -(float((ious >= positive_iou).mean()) + 0.01 * float(ious.mean()))

    bounds = [(-1.0, 1.0)] * num_scales + [(math.log(1 / 12), math.log(12))] * num_ratios
    result = differential_evolution(objective, bounds, seed=seed, maxiter=max_iterations, popsize=8, tol=1e-4, polish=False)
    return make(result.x)


def flagfile_text(config: AnchorConfig, header: list[str]) -> str:
    lines = [f"# {line}" for line in header] + config.to_flags()
    return "\n".join(lines) + "\n"


def plot(boxes: np.ndarray, configs: dict, coverages: dict, path_scatter: str, path_coverage: str, seed: int = 0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    shown = boxes if len(boxes) <= 20000 else boxes[rng.choice(len(boxes), 20000, replace=False)]
    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    ax.scatter(shown[:, 0], shown[:, 1], s=2, alpha=0.3, color="gray", label="boxes (network pixels)")
    markers = {"default": ("tab:blue", "x"), "optimized": ("tab:red", "+")}
    for name, cfg in configs.items():
        shapes = np.asarray([s for lvl in cfg.levels for s in cfg.shapes_per_level(lvl)])
        color, marker = markers.get(name, ("tab:green", "o"))
        ax.scatter(shapes[:, 0], shapes[:, 1], s=60, color=color, marker=marker, label=f"{name} anchors")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.legend(loc="upper left")
    ax.set_title("boxes and anchor shapes")
    fig.tight_layout()
    fig.savefig(path_scatter)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    names = list(coverages)
    buckets = list(next(iter(coverages.values())).unmatched_by_size)
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        cov = coverages[name].unmatched_by_size
        share = [1 - cov[b]["without_positive"] / max(cov[b]["boxes"], 1) for b in buckets]
        ax.bar(np.arange(len(buckets)) + i * width, share, width, label=f"{name} (BPR {coverages[name].best_possible_recall:.3f})")
    ax.set_xticks(np.arange(len(buckets)) + width * (len(names) - 1) / 2)
    ax.set_xticklabels(buckets)
    ax.set_xlabel("box side sqrt(w*h), network pixels")
    ax.set_ylabel("share with an anchor IoU >= 0.5")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path_coverage)
    plt.close(fig)
