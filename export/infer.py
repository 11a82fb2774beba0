"""Edge inference: denoise images with an exported .tflite under LiteRT alone (no TensorFlow).

    python -m export.infer --model exports/dae/tflite/int8.tflite --input a.png [b.png ...] \
        --output_dir out/ [--corrupt] [--invert]

Writes <name>.png (the 28x28 reconstruction) per input and sheet.png (input, noised input,
reconstruction; one row each)."""

import os
import sys

import numpy as np
from absl import app
from absl.flags import adopt_module_key_flags
from PIL import Image, UnidentifiedImageError

import flags
from export import preprocess
from export.errors import ExportError
from export.litert import LiteRTModel
from keras_dae.durable import atomic_path

FLAGS = flags.FLAGS
SIDE = 28
SHEET_SCALE = 4


def load_image(path: str, invert: bool) -> np.ndarray:
    """A PNG/JPEG of any size and mode as [784] floats, preprocessed as MNIST was (the digit's
    box fitted into 20x20, centred by mass in 28x28: export/preprocess.py)."""
    try:
        with Image.open(path) as image:
            gray = preprocess.grayscale(image)
    except (UnidentifiedImageError, OSError) as e:
        raise ExportError(f"{path}: not a readable image ({type(e).__name__})") from None
    pixels = preprocess.mnist_pixels(255 - gray if invert else gray)
    return pixels.reshape(-1).astype(np.float32) / 255.0


def load_npy(path: str) -> np.ndarray:
    """A .npy batch ([N, 784] or [N, 28, 28]; uint8, or floats in [0, 1]) as [N, 784] floats."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: not a readable .npy array ({e})") from None
    if x.ndim in (1, 2) and x.shape[-1] == SIDE * SIDE or x.shape[-2:] == (SIDE, SIDE):
        x = x.reshape(-1, SIDE * SIDE)
    else:
        raise ExportError(f"{path}: array of shape {x.shape}, expected [N, 784] or [N, 28, 28]")
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
    return names, np.stack(rows)


def corrupt(x: np.ndarray, seed: int) -> np.ndarray:
    """The training noise: drop half the pixels, double the survivors."""
    rng = np.random.default_rng(seed)
    return (x * (rng.random(x.shape) >= 0.5) * 2.0).astype(np.float32)


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
            sheet.paste(to_image(row).resize((side, side), Image.Resampling.NEAREST),
                        (c * (side + 4), r * side))
    with atomic_path(os.path.join(output_dir, "sheet.png")) as tmp:
        sheet.save(tmp, format="PNG")


def main(argv):
    prog = flags.program_name(argv)
    paths = FLAGS.input + argv[1:]
    try:
        if not FLAGS.model or not paths:
            raise ExportError("--model and at least one --input are required (see --help)")
        model = LiteRTModel(FLAGS.model)
        names, x = load_inputs(paths, FLAGS.invert)
        if FLAGS.binarize:
            x = (x >= 0.5).astype(np.float32)
        columns = [x]
        if FLAGS.corrupt:
            columns.append(corrupt(x, FLAGS.seed))
        columns.append(model.run(columns[-1], max_value=2.0 if FLAGS.corrupt else 1.0))
        write_outputs(FLAGS.output_dir, names, columns)
    except ExportError as e:
        sys.exit(f"{prog}: error: {e}")
    print(f"{len(names)} image(s) denoised into {FLAGS.output_dir}/ (and sheet.png)")


if __name__ == "__main__":
    flags.define_infer_flags()
    adopt_module_key_flags(flags)
    app.run(main, flags_parser=flags.parse_or_exit)
