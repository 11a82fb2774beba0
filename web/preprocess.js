// MNIST's preprocessing (LeCun's procedure) in integer arithmetic: the same 784 bytes as
// export/preprocess.py, whose docstring gives the algorithm step by step. Every intermediate
// value is an integer below 2^53, so JavaScript's doubles compute it exactly.

export const SIDE = 28; // The model's image side.
export const BOX = 20; // MNIST's digits fit a 20x20 box.
export const INK_FLOOR = 64; // Stretched values below this are background.

/** Pillow's 8-bit luma of RGBA bytes (ITU-R 601, rounded; alpha ignored). */
export function grayscale(rgba) {
  const gray = new Uint8Array(rgba.length / 4);
  for (let i = 0; i < gray.length; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    gray[i] = Math.floor((r * 19595 + g * 38470 + b * 7471 + 0x8000) / 65536);
  }
  return gray;
}

/** Step 1: background (lower median) to 0, the brightest ink to 255, faint pixels to 0. */
export function stretch(gray) {
  const counts = new Array(256).fill(0);
  let top = 0;
  for (const v of gray) {
    counts[v]++;
    top = Math.max(top, v);
  }
  const rank = Math.floor((gray.length - 1) / 2);
  let background = 0;
  for (let seen = counts[0]; seen <= rank; seen += counts[++background]);
  const out = new Float64Array(gray.length);
  if (top <= background) return out;
  for (let i = 0; i < gray.length; i++) {
    const v = Math.floor((Math.max(gray[i] - background, 0) * 255) / (top - background));
    out[i] = v < INK_FLOOR ? 0 : v;
  }
  return out;
}

/** Step 3's output size [nh, nw]: the longer side BOX, the shorter rounded half up. */
export function fittedSize(h, w) {
  if (w >= h) return [Math.max(1, Math.floor((2 * BOX * h + w) / (2 * w))), BOX];
  return [BOX, Math.max(1, Math.floor((2 * BOX * w + h) / (2 * h)))];
}

/** Overlap of output pixel j ([j nIn, (j+1) nIn]) with source pixel k ([k nOut, (k+1) nOut]). */
function overlap(j, k, nIn, nOut) {
  return Math.max(0, Math.min((j + 1) * nIn, (k + 1) * nOut) - Math.max(j * nIn, k * nOut));
}

/** Step 3: the box-filter means of crop (h x w, row-major) on an nh x nw grid, rounded. */
export function boxResample(crop, h, w, nh, nw) {
  const rows = new Float64Array(h * nw); // Each source row resampled along x (unnormalized).
  for (let y = 0; y < h; y++) {
    for (let j = 0; j < nw; j++) {
      let sum = 0;
      const last = Math.min(w - 1, Math.floor(((j + 1) * w) / nw));
      for (let k = Math.floor((j * w) / nw); k <= last; k++) {
        sum += overlap(j, k, w, nw) * crop[y * w + k];
      }
      rows[y * nw + j] = sum;
    }
  }
  const area = h * w;
  const out = new Float64Array(nh * nw);
  for (let i = 0; i < nh; i++) {
    const last = Math.min(h - 1, Math.floor(((i + 1) * h) / nh));
    for (let j = 0; j < nw; j++) {
      let total = 0;
      for (let l = Math.floor((i * h) / nh); l <= last; l++) {
        total += overlap(i, l, h, nh) * rows[l * nw + j];
      }
      out[i * nw + j] = Math.floor((2 * total + area) / (2 * area));
    }
  }
  return out;
}

/** Step 4: small (nh x nw) pasted into SIDE x SIDE with its centre of mass at row/column 14. */
export function centred(small, nh, nw) {
  const image = new Uint8Array(SIDE * SIDE);
  let mass = 0;
  let rowMoment = 0;
  let colMoment = 0;
  for (let i = 0; i < nh; i++) {
    for (let j = 0; j < nw; j++) {
      const v = small[i * nw + j];
      mass += v;
      rowMoment += i * v;
      colMoment += j * v;
    }
  }
  if (mass === 0) return image;
  const offset = (moment, n) =>
    Math.min(Math.max(Math.floor((29 * mass - 2 * moment) / (2 * mass)), 0), SIDE - n);
  const top = offset(rowMoment, nh);
  const left = offset(colMoment, nw);
  for (let i = 0; i < nh; i++) {
    for (let j = 0; j < nw; j++) image[(top + i) * SIDE + left + j] = small[i * nw + j];
  }
  return image;
}

/** An 8-bit grayscale image (ink bright, width x height, row-major) as MNIST's 784 bytes. */
export function mnistPixels(gray, width, height) {
  const stretched = stretch(gray);
  let [top, bottom, left, right] = [height, -1, width, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (stretched[y * width + x] > 0) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  if (bottom < 0) return new Uint8Array(SIDE * SIDE);
  const [h, w] = [bottom - top + 1, right - left + 1];
  const crop = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) crop[y * w + x] = stretched[(top + y) * width + left + x];
  }
  const [nh, nw] = fittedSize(h, w);
  return centred(boxResample(crop, h, w, nh, nw), nh, nw);
}

/** Bytes as the model's float input, binarized (>= 0.5, i.e. byte >= 128) as in training. */
export function modelInput(pixels, binarize) {
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    x[i] = binarize ? (pixels[i] >= 128 ? 1 : 0) : pixels[i] / 255;
  }
  return x;
}
