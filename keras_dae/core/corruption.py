"""The input corruptions as NumPy functions, without TensorFlow: for calibrating, demonstrating
(`export.infer --corrupt`) and evaluating a model with the noise it was trained with.
The Keras layers that corrupt while training are in `noise.py`; both follow the same definitions.

- dropout: zero each pixel with probability `rate`, scale the survivors by 1 / (1 - rate)
- mask: zero each pixel with probability `rate`, survivors unscaled (Vincent et al., 2008)
- gaussian: add N(0, rate^2) noise, clip to [0, 1]
- salt_pepper: set each pixel with probability `rate` to 0 or 1, half each"""

import numpy as np

TRAINING_KINDS = ("dropout", "mask", "gaussian")  # What --noise can train with.
KINDS = TRAINING_KINDS + ("salt_pepper",)


def corrupt(x: np.ndarray, kind: str, rate: float, rng: np.random.Generator) -> np.ndarray:
    """`x` (float images in [0, 1]) corrupted by `kind` at `rate`, as float32."""
    if kind not in KINDS:
        raise ValueError(f"unknown corruption {kind!r}, expected one of {'|'.join(KINDS)}")
    if rate == 0:
        return x.astype(np.float32)
    if kind == "gaussian":
        return np.clip(x + rng.normal(0.0, rate, x.shape), 0.0, 1.0).astype(np.float32)
    hit = rng.random(x.shape) < rate
    if kind == "salt_pepper":
        return np.where(hit, rng.random(x.shape) < 0.5, x).astype(np.float32)
    kept = x * ~hit
    return (kept / (1.0 - rate) if kind == "dropout" else kept).astype(np.float32)


def max_value(kind: str, rate: float) -> float:
    """The largest pixel value `kind` at `rate` can produce from images in [0, 1]."""
    return 1.0 / (1.0 - rate) if kind == "dropout" else 1.0
