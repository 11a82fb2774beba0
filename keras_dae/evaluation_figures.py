"""The evaluation's figures on matplotlib Figure objects (no pyplot state): denoising curves,
first-layer filters, anomaly-score histograms and ROC curves."""

import numpy as np
from matplotlib.figure import Figure

from keras_dae import metrics
from keras_dae.core.durable import atomic_path
from keras_dae.core.mnist import IMAGE_SHAPE
from keras_dae.evaluation_report import named
from keras_dae.figures import image_grid

FILTERS = 100  # The first-layer filters shown: those of largest L2 norm.
SET_LABELS = {
    "held_out": "held-out digits",
    "uniform_noise": "uniform noise",
    "inverted": "inverted digits",
    "ood_dir": "--ood_dir",
}


def save(fig: Figure, path: str, dpi: int = 80) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")


def save_denoising(path: str, report: dict, compared: dict | None) -> None:
    """One column per corruption: test CE (top, log scale) and PSNR (bottom) against the rate,
    for the run, the compared run and the corrupted input itself."""
    kinds = list(report["denoising"])
    fig = Figure(figsize=(3.2 * len(kinds), 6))
    axes = fig.subplots(2, len(kinds), squeeze=False)
    own_inputs = compared is not None and compared.get("test_set_label") is not None
    for col, kind in enumerate(kinds):
        for row, metric in enumerate(("ce", "psnr")):
            ax = axes[row, col]
            curves = report["denoising"][kind]
            other = None if compared is None else compared["denoising"][kind]
            ax.plot(
                curves["rates"],
                curves[f"input_{metric}"],
                ":",
                color="gray",
                label=f"corrupted input [{report['test_set_label']}]"
                if own_inputs
                else "corrupted input",
            )
            ax.plot(curves["rates"], curves[f"model_{metric}"], "o-", ms=3, label=named(report))
            if other is not None:
                ax.plot(
                    other["rates"], other[f"model_{metric}"], "s--", ms=3, label=named(compared)
                )
            if own_inputs:  # Its own images corrupted: another baseline.
                ax.plot(
                    other["rates"],
                    other[f"input_{metric}"],
                    "-.",
                    color="silver",
                    label=f"corrupted input [{compared['test_set_label']}]",
                )
            # The limits leave out the clean input's own score (CE ~0, PSNR 100 dB).
            shown = [
                v for c in (curves, other) if c is not None for v in c[f"model_{metric}"]
            ] + curves[f"input_{metric}"][1:]
            if own_inputs:
                shown += other[f"input_{metric}"][1:]
            if metric == "ce":
                ax.set_yscale("log")
                ax.set_ylim(min(shown) / 1.3, max(shown) * 1.3)
                ax.set_title(kind)
            else:
                ax.set_ylim(min(shown) - 1, max(shown) + 1)
            ax.set_xlabel("corruption rate" + (" (sigma)" if kind == "gaussian" else ""))
            ax.set_ylabel("test CE (nats/pixel)" if metric == "ce" else "PSNR (dB)")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    save(fig, path)


def strongest_filters(kernel: np.ndarray, count: int = FILTERS) -> np.ndarray:
    """The `count` columns of a [784, units] kernel of largest L2 norm, as [count, 784] images
    each scaled to [0, 1] (0.5 = zero weight)."""
    order = np.argsort(-np.linalg.norm(kernel, axis=0))[:count]
    filters = kernel[:, order].T
    return 0.5 + 0.5 * filters / np.abs(filters).max(axis=1, keepdims=True)


def save_filters(path: str, main, other=None) -> None:
    """The 100 strongest first-layer filters of each run, 10 x 10, side by side."""
    runs = [main] if other is None else [main, other]
    fig = Figure(figsize=(3.6 * len(runs), 3.9))  # At 100 dpi about one pixel per weight.
    for i, run in enumerate(runs, start=1):
        ax = fig.add_subplot(1, len(runs), i)
        grid = image_grid(strongest_filters(run.filters).reshape(-1, *IMAGE_SHAPE), cols=10)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{named(run.report)}: first-layer filters", fontsize=10)
        ax.axis("off")
    save(fig, path, dpi=100)


def save_anomaly(path: str, report: dict, scores: dict) -> None:
    """Histograms of the anomaly score per image set, and each anomalous set's ROC curve
    against the normal test images."""
    fig = Figure(figsize=(10, 4))
    hist, roc = fig.subplots(1, 2)
    bins = np.geomspace(
        max(min(s.min() for s in scores.values() if len(s)), 1e-4),
        max(s.max() for s in scores.values() if len(s)),
        60,
    )
    for name, s in scores.items():
        if len(s):
            hist.hist(
                s,
                bins=bins,
                histtype="step",
                density=True,
                label=SET_LABELS.get(name, "trained digits"),
            )
    hist.set_xscale("log")
    hist.set_xlabel("anomaly score: reconstruction CE")
    hist.set_ylabel("density")
    hist.legend(fontsize=8)
    for name, auc in report["anomaly"]["roc_auc"].items():
        if auc is not None:
            roc.plot(
                *metrics.roc_points(scores["normal"], scores[name]),
                label=f"{SET_LABELS[name]} (AUC {auc:.3f})",
            )
    roc.plot([0, 1], [0, 1], ":", color="gray")
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")
    roc.set_title(f"{named(report)}: anomalies vs trained test digits", fontsize=10)
    roc.legend(fontsize=8)
    save(fig, path)
