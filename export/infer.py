"""Edge inference: denoise images with an exported .tflite under LiteRT alone (no TensorFlow).

    python -m export.infer --model exports/dae/versions/1/tflite/int8.tflite
        --input a.png [b.png ...] --output_dir out/ [--corrupt] [--invert]

(keras-dae-infer where keras-dae is installed).

Writes <name>.png (the 28x28 reconstruction) per input (inputs sharing a name get -2, -3, ...)
and sheet.png (input, noised input, reconstruction; one row each)."""

import json
import os
import tempfile
import warnings

import numpy as np
from absl import logging
from PIL import Image, UnidentifiedImageError

from keras_dae import flags
from keras_dae.core import corruption
from keras_dae.core.durable import atomic_path
from keras_dae.core.errors import ExportError, one_line_errors
from keras_dae.core.mnist import PIXELS, SIDE
from keras_dae.export import layout, preprocess
from keras_dae.export.litert import LiteRTModel

FLAGS = flags.FLAGS
SHEET_SCALE = 4
# Images with more pixels are refused from their header, before decoding: 4096x4096 (16.7 MP,
# 67 MB as RGBA) is far beyond any scan of a digit; a 13000x13000 PNG took almost 1 GB.
MAX_PIXELS = 4096 * 4096
SHEET = "sheet"
FALLBACK_NOISE = ("dropout", 0.5)  # The default training noise, for a model without model.json.


def _gray(image: Image.Image, path: str) -> Image.Image:
    """`image` as 8-bit gray, faithfully: 16-bit pixels scaled by 255/65535 (Pillow's "L"
    conversion clips them), float pixels must lie in [0, 1], transparency composited on black."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        x = np.asarray(image, np.float64)
        top = 1.0 if image.mode == "F" else 65535.0
        if x.size and (x.min() < 0 or x.max() > top):
            raise ExportError(
                f"{path}: {image.mode} pixels span [{x.min():g}, {x.max():g}], "
                f"expected [0, {top:g}]"
            )
        return Image.fromarray(np.uint8(np.round(x / top * 255)))
    if image.mode in ("P", "PA") or "A" in image.getbands():
        gray, alpha = image.convert("RGBA").convert("LA").split()
        return Image.fromarray(
            np.uint8(np.round(np.asarray(gray, np.float64) * np.asarray(alpha, np.float64) / 255))
        )
    return image.convert("L")


def read_gray(path: str) -> Image.Image:
    """The image in `path` as 8-bit gray; refused with one line when it holds more than
    MAX_PIXELS (checked from the header, before decoding) or cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ExportError(
                        f"{path}: {image.width}x{image.height} pixels, more than "
                        f"the limit of {MAX_PIXELS:,} (4096x4096); refused "
                        "before decoding"
                    )
                return _gray(image, path)
    except Image.DecompressionBombError as e:
        raise ExportError(
            f"{path}: refused before decoding, more than the limit of "
            f"{MAX_PIXELS:,} pixels (4096x4096) ({e})"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ExportError(f"{path}: not a readable image ({type(e).__name__})") from None


def load_image(path: str, invert: bool) -> np.ndarray:
    """A PNG/JPEG of any size and mode as [784] floats, preprocessed as MNIST was (the digit's
    box fitted into 20x20, centred by mass in 28x28: export/preprocess.py)."""
    gray = np.asarray(read_gray(path), np.uint8)
    pixels = preprocess.mnist_pixels(255 - gray if invert else gray)
    return pixels.reshape(-1).astype(np.float32) / 255.0


def load_npy(path: str) -> np.ndarray:
    """A .npy batch ([N, 784] or [N, 28, 28]; uint8, or floats in [0, 1]) as [N, 784] floats."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: not a readable .npy array ({e})") from None
    if x.ndim in (1, 2) and x.shape[-1] == PIXELS or x.shape[-2:] == (SIDE, SIDE):
        x = x.reshape(-1, PIXELS)
    else:
        raise ExportError(f"{path}: array of shape {x.shape}, expected [N, 784] or [N, 28, 28]")
    if len(x) == 0:
        raise ExportError(f"{path}: an empty batch (shape {x.shape}), no image to denoise")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if not np.issubdtype(x.dtype, np.floating):
        raise ExportError(f"{path}: dtype {x.dtype}, expected uint8 or float")
    if not np.all(np.isfinite(x)) or x.min() < 0 or x.max() > 1:
        raise ExportError(f"{path}: values must be finite and in [0, 1]")
    return x.astype(np.float32)


def load_inputs(paths: list[str], invert: bool) -> tuple[list[str], np.ndarray]:
    """Output names and the [N, 784] batch of every input file."""
    names, rows = [], []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        if path.endswith(".npy"):
            batch = load_npy(path)
            batch = 1.0 - batch if invert else batch
            names += [f"{stem}-{i}" for i in range(len(batch))]
            rows += list(batch)
        else:
            names.append(stem)
            rows.append(load_image(path, invert))
    return unique_names(names), np.stack(rows)


def unique_names(names: list[str]) -> list[str]:
    """`names` made distinct (the second `digit` becomes `digit-2`), none of them the sheet's."""
    taken, unique = {SHEET}, []
    for name in names:
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}-{n}", n + 1
        taken.add(candidate)
        unique.append(candidate)
    return unique


def check_output_dir(path: str) -> None:
    """Refuses, before any work, an output folder that is a file or cannot be written."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ExportError(f"{path}: not a folder (--output_dir)")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ExportError(f"{path}: cannot write there (--output_dir: {e.strerror})") from None


def training_noise(model_path: str) -> tuple[str, float]:
    """The noise kind and rate the model was trained with, from model.json of the export version
    its .tflite belongs to (versions/<v>/tflite/x.tflite); dropout 0.5 when there is none.
    ExportError for a plain AE, which has no training noise."""
    path = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(model_path))), layout.MODEL_INFO
    )
    if not os.path.isfile(path):
        logging.info(
            "%s: no %s of its export version; --corrupt uses %s noise at rate %g",
            model_path,
            layout.MODEL_INFO,
            *FALLBACK_NOISE,
        )
        return FALLBACK_NOISE
    try:
        with open(path) as f:
            info = json.load(f)
        if info.get("add_noise") is False:
            raise ExportError(
                f"{model_path}: a plain autoencoder, trained without noise ({path}): --corrupt "
                "has no training noise to apply"
            )
        kind, rate = info["noise"], float(info["noise_rate"])
        if kind not in corruption.KINDS or not 0 <= rate <= 1 or (kind == "dropout" and rate == 1):
            raise ValueError
    except (OSError, ValueError, KeyError, TypeError):
        raise ExportError(f"{path}: unreadable (expected noise and noise_rate)") from None
    return kind, rate


def corrupt(x: np.ndarray, kind: str, rate: float, seed: int) -> np.ndarray:
    """`x` with the model's training noise."""
    return corruption.corrupt(x, kind, rate, np.random.default_rng(seed))


def to_image(row: np.ndarray) -> Image.Image:
    return Image.fromarray(np.uint8(np.clip(row, 0, 1).reshape(SIDE, SIDE) * 255 + 0.5))


def write_outputs(output_dir: str, names, columns: list[np.ndarray]) -> None:
    """<name>.png per reconstruction (the last column) and sheet.png with every column."""
    for name, row in zip(names, columns[-1]):
        with atomic_path(os.path.join(output_dir, f"{name}.png")) as tmp:
            to_image(row).save(tmp, format="PNG")
    side = SIDE * SHEET_SCALE
    sheet = Image.new("L", (side * len(columns) + 4 * (len(columns) - 1), side * len(names)), 128)
    for c, column in enumerate(columns):
        for r, row in enumerate(column):
            sheet.paste(
                to_image(row).resize((side, side), Image.Resampling.NEAREST),
                (c * (side + 4), r * side),
            )
    with atomic_path(os.path.join(output_dir, f"{SHEET}.png")) as tmp:
        sheet.save(tmp, format="PNG")


def main(argv):
    prog = flags.program_name(argv)
    paths = FLAGS.input + argv[1:]
    with one_line_errors(prog):
        if not FLAGS.model or not paths:
            raise ExportError("--model and at least one --input are required (see --help)")
        model = LiteRTModel(FLAGS.model, autoencoder=True)
        check_output_dir(FLAGS.output_dir)
        names, x = load_inputs(paths, FLAGS.invert)
        if FLAGS.binarize:
            x = (x >= 0.5).astype(np.float32)
        columns, max_value = [x], 1.0
        if FLAGS.corrupt:
            kind, rate = training_noise(FLAGS.model)
            columns.append(corrupt(x, kind, rate, FLAGS.seed))
            max_value = corruption.max_value(kind, rate)
        columns.append(model.run(columns[-1], max_value=max_value))
        write_outputs(FLAGS.output_dir, names, columns)
    print(f"{len(names)} image(s) denoised into {FLAGS.output_dir}/ (and sheet.png)")


def run():
    """The `keras-dae-infer` command."""
    flags.run_command(main, flags.define_infer_flags, __doc__)


if __name__ == "__main__":
    run()
