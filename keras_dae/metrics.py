"""The evaluation's measures as pure NumPy / scikit-learn functions: per-image cross-entropy and
PSNR, ROC-AUC of an anomaly score, and summaries of repeated measurements."""

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

EPS = 1e-7  # Keras's clip for cross-entropy on probabilities.
MSE_FLOOR = 1e-10  # PSNR of identical images: 10 log10(1 / 1e-10) = 100 dB, not infinity.
PSNR_CAP = 100.0


def cross_entropy(targets: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Per-image mean binary cross-entropy [N] of `probabilities` (clipped to [1e-7, 1 - 1e-7],
    as Keras does) against `targets`, both [N, D]."""
    p = np.clip(probabilities.astype(np.float64), EPS, 1 - EPS)
    t = targets.astype(np.float64)
    return -np.mean(t * np.log(p) + (1 - t) * np.log1p(-p), axis=1)


def psnr(clean: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Per-image PSNR [N] in dB, peak 1: 10 log10(1 / MSE), the MSE floored at 1e-10, so an
    exact copy scores PSNR_CAP (100 dB) instead of infinity and the mean stays finite."""
    mse = np.mean((clean.astype(np.float64) - other.astype(np.float64)) ** 2, axis=1)
    return 10.0 * np.log10(1.0 / np.maximum(mse, MSE_FLOOR))


def roc_auc(normal_scores: np.ndarray, anomaly_scores: np.ndarray) -> float | None:
    """ROC-AUC of telling anomalies (positives) from normal images by a higher score; None when
    either side is empty."""
    if len(normal_scores) == 0 or len(anomaly_scores) == 0:
        return None
    labels = np.r_[np.zeros(len(normal_scores)), np.ones(len(anomaly_scores))]
    return float(roc_auc_score(labels, np.r_[normal_scores, anomaly_scores]))


def roc_points(normal_scores: np.ndarray, anomaly_scores: np.ndarray):
    """(false positive rates, true positive rates) of the ROC curve, for plotting."""
    labels = np.r_[np.zeros(len(normal_scores)), np.ones(len(anomaly_scores))]
    fpr, tpr, _ = roc_curve(labels, np.r_[normal_scores, anomaly_scores])
    return fpr, tpr


def summary(values: list[float]) -> dict:
    """{"accuracies", "mean", "std"} (population std) of repeated measurements."""
    return {
        "accuracies": [float(v) for v in values],
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
    }
