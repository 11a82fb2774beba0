"""MNIST's preprocessing for any image of a digit (NumPy and Pillow only, no TensorFlow): LeCun's
procedure, in integer arithmetic so that `web/preprocess.js` gives the same 784 bytes exactly.

Input: an 8-bit grayscale image, ink bright on dark (invert a dark-on-light photo first). Steps:
1. Contrast: background `bg` = the lower median pixel, ink `top` = the largest pixel;
   v -> (max(v - bg, 0) * 255) // (top - bg); values below INK_FLOOR (a quarter) become 0.
   A flat image (top <= bg) is blank: 784 zeros.
2. Crop to the bounding box of the non-zero pixels (h x w).
3. Scale to fit BOX x BOX keeping the aspect: the longer side becomes 20, the shorter
   max(1, round(20 * short / long)) (rounding half up). Resampling is the box filter (each output
   pixel is the area-weighted mean of the source pixels it covers: exact anti-aliasing), computed
   on integers: weights are overlaps on the grid where a source pixel is `nw` units wide and an
   output pixel `w` units, the mean rounded half up to a byte.
4. Place in 28x28 so the centre of mass (pixel indices weighted by value) is at row and column 14
   as in MNIST (its test set's mean: 13.99, 14.01), the offset rounded half up and clamped so the
   whole box stays inside (LeCun: "centered by computing the center of mass of the pixels, and
   translating the image so as to position this point at the center of the 28x28 field").
The model's input is then bytes / 255, binarized as in training (>= 0.5, i.e. byte >= 128)."""

import numpy as np
from PIL import Image

from keras_dae.core.mnist import SIDE

BOX = 20  # MNIST's digits fit a 20x20 box.
INK_FLOOR = 64  # Stretched pixel values below this are background (photo noise, paper texture).


def grayscale(image: Image.Image) -> np.ndarray:
    """Pillow's 8-bit luma (ITU-R 601: (19595 R + 38470 G + 7471 B + 2^15) >> 16); alpha ignored."""
    return np.asarray(image.convert("L"), np.uint8)


def stretch(gray: np.ndarray) -> np.ndarray:
    """Step 1: background to 0, the brightest ink to 255, faint pixels to 0 (int64)."""
    counts = np.bincount(gray.reshape(-1), minlength=256).cumsum()
    background = int(np.searchsorted(counts, (gray.size - 1) // 2, side="right"))
    top = int(gray.max())
    if top <= background:
        return np.zeros(gray.shape, np.int64)
    stretched = np.maximum(gray.astype(np.int64) - background, 0) * 255 // (top - background)
    return np.where(stretched < INK_FLOOR, 0, stretched)


def fitted_size(h: int, w: int) -> tuple[int, int]:
    """Step 3's output size: the longer side BOX, the shorter scaled and rounded half up."""
    if w >= h:
        return max(1, (2 * BOX * h + w) // (2 * w)), BOX
    return BOX, max(1, (2 * BOX * w + h) // (2 * h))


def overlaps(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] integer overlaps of output pixel j ([j n_in, (j+1) n_in]) with source pixel
    k ([k n_out, (k+1) n_out]); every row sums to n_in."""
    j = np.arange(n_out)[:, None]
    k = np.arange(n_in)[None, :]
    return np.maximum(
        0, np.minimum((j + 1) * n_in, (k + 1) * n_out) - np.maximum(j * n_in, k * n_out)
    ).astype(np.int64)


def box_resample(crop: np.ndarray, nh: int, nw: int) -> np.ndarray:
    """Step 3: the area-weighted means of `crop` (int64 [h, w]) on an nh x nw grid, as int64."""
    h, w = crop.shape
    # float64 matmul (BLAS) is exact here: every partial sum is an integer below 255 h w < 2^53.
    total = (
        overlaps(h, nh).astype(np.float64)
        @ crop.astype(np.float64)
        @ overlaps(w, nw).T.astype(np.float64)
    ).astype(np.int64)
    area = h * w
    return (2 * total + area) // (2 * area)


def centred(small: np.ndarray) -> np.ndarray:
    """Step 4: `small` (int64 [nh, nw]) pasted into SIDE x SIDE with its centre of mass at 14."""
    image = np.zeros((SIDE, SIDE), np.uint8)
    mass = int(small.sum())
    if mass == 0:
        return image
    nh, nw = small.shape
    # Offset = round_half_up(14 - moment / mass) = floor((29 mass - 2 moment) / (2 mass)).
    top = (29 * mass - 2 * int(small.sum(axis=1) @ np.arange(nh))) // (2 * mass)
    left = (29 * mass - 2 * int(small.sum(axis=0) @ np.arange(nw))) // (2 * mass)
    top, left = min(max(top, 0), SIDE - nh), min(max(left, 0), SIDE - nw)
    image[top : top + nh, left : left + nw] = small
    return image


def mnist_pixels(gray: np.ndarray) -> np.ndarray:
    """An 8-bit grayscale image (ink bright, any size) as MNIST's uint8 [28, 28]."""
    stretched = stretch(np.asarray(gray, np.uint8))
    rows, cols = np.nonzero(stretched)
    if rows.size == 0:
        return np.zeros((SIDE, SIDE), np.uint8)
    crop = stretched[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    return centred(box_resample(crop, *fitted_size(*crop.shape)))


def model_input(pixels: np.ndarray, binarize: bool) -> np.ndarray:
    """uint8 pixels as the model's float32 [784] input, binarized (>= 0.5) as in training."""
    x = np.asarray(pixels, np.float32).reshape(-1) / 255.0
    return (x >= 0.5).astype(np.float32) if binarize else x
