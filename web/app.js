// The page: draw or pick a digit, MNIST-preprocess it, optionally corrupt it with the model's
// training noise, reconstruct it with LiteRT.js on WebAssembly; for z = 2 models, explore the
// decoder's latent plane. Everything is served locally by `python -m export.web`.
import {loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';

import {corrupt} from './corruption.js';
import {grayscale, mnistPixels, modelInput, SIDE} from './preprocess.js';
import {withBatchOne} from './tflite.js';

const PIXELS = SIDE * SIDE;
const STROKE = 22; // Pen width on the 280x280 canvas: MNIST-like strokes after scaling.
const $ = (id) => document.getElementById(id);

// State read by tests and benchmarks/web.py: window.dae.last is the latest update's data.
const dae = {ready: false, busy: false, updates: 0, last: null, models: {}};
window.dae = dae;

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

/** A compiled .tflite of the export, batch fixed to 1 (see tflite.js), on WebAssembly. */
async function loadModel(name) {
  const bytes = new Uint8Array(await (await fetchOk(`/export/tflite/${name}.tflite`)).arrayBuffer());
  return loadAndCompile(withBatchOne(bytes), {accelerator: 'wasm'});
}

/** One forward pass of a compiled model on a [1, n] float input; returns a Float32Array. */
async function infer(model, x) {
  const input = new Tensor(x, [1, x.length]);
  const outputs = await model.run(input);
  const y = Float32Array.from(outputs[0].toTypedArray());
  input.delete();
  for (const t of outputs) t.delete();
  return y;
}

function paint(canvas, values, scale = 255) {
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < PIXELS; i++) {
    const v = Math.round(Math.min(Math.max(values[i] * scale, 0), 255));
    image.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

// The digit shown: MNIST bytes of a sample, or of the drawing canvas (preprocessed).
let source = {kind: 'drawing', sample: null, pixels: new Uint8Array(PIXELS)};
let pending = false;

function currentPixels() {
  if (source.kind === 'sample') return source.pixels;
  const canvas = $('draw');
  const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  return mnistPixels(grayscale(rgba), canvas.width, canvas.height);
}

/** Input -> (corrupted) -> reconstruction, painted in the three panels. */
async function reconstruct() {
  const start = performance.now();
  const pixels = currentPixels();
  const input = modelInput(pixels, dae.info.binarize_input);
  const noisy = $('corrupt').checked ? corrupt(input, dae.info.noise, dae.info.noise_rate) : input;
  const modelName = $('model').value;
  const reconstruction = await infer(dae.models[modelName], noisy);
  paint($('input'), input);
  paint($('corrupted'), noisy);
  paint($('reconstruction'), reconstruction);
  const ms = performance.now() - start;
  $('timing').textContent = `${modelName}: ${ms.toFixed(1)} ms per update`;
  dae.last = {source: source.kind, sample: source.sample, model: modelName, ms,
              pixels: Array.from(pixels), input: Array.from(input),
              corrupted: Array.from(noisy), reconstruction: Array.from(reconstruction)};
  dae.updates++;
}

/** Runs reconstruct, coalescing requests made while one is running (drawing stays fluid). */
async function requestUpdate() {
  if (dae.busy) {
    pending = true;
    return;
  }
  dae.busy = true;
  try {
    do {
      pending = false;
      await reconstruct();
    } while (pending);
  } finally {
    dae.busy = false;
  }
}

function setUpDrawing() {
  const canvas = $('draw');
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  let last = null;
  const point = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width,
            (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    last = point(e);
    source = {kind: 'drawing', sample: null};
    stroke(last, last);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (last === null) return;
    const next = point(e);
    stroke(last, next);
    last = next;
  });
  const end = () => { last = null; };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  function stroke(from, to) {
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = STROKE;
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...from);
    ctx.lineTo(...to);
    ctx.stroke();
    requestUpdate();
  }
  $('clear').addEventListener('click', () => {
    clear();
    source = {kind: 'drawing', sample: null};
    requestUpdate();
  });
  return {ctx, clear};
}

function setUpSamples(samples, drawing) {
  samples.images.forEach((image, i) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.title = `test digit ${i} (label ${samples.labels[i]})`;
    button.dataset.index = i;
    const thumb = document.createElement('canvas');
    thumb.width = thumb.height = SIDE;
    paint(thumb, image, 1);
    button.append(thumb);
    button.addEventListener('click', () => {
      // The sample as the drawing canvas's picture too, so it can be drawn over.
      drawing.clear();
      drawing.ctx.imageSmoothingEnabled = false;
      drawing.ctx.drawImage(thumb, 0, 0, 280, 280);
      source = {kind: 'sample', sample: i, pixels: Uint8Array.from(image)};
      requestUpdate();
    });
    $('samples').append(button);
  });
}

/** The latent plane: sample codes as dots (coloured by label), a draggable point decoded. */
async function setUpLatentPlane(samples) {
  const codes = [];
  for (const image of samples.images) {
    codes.push(await infer(dae.models.encoder, modelInput(image, dae.info.binarize_input)));
  }
  const xs = codes.map((c) => c[0]);
  const ys = codes.map((c) => c[1]);
  const pad = (lo, hi) => [lo - 0.1 * (hi - lo || 1), hi + 0.1 * (hi - lo || 1)];
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const plane = $('plane');
  const ctx = plane.getContext('2d');
  const toCanvas = (z) => [(z[0] - x0) / (x1 - x0) * plane.width,
                           (1 - (z[1] - y0) / (y1 - y0)) * plane.height];
  const toCode = (px, py) => [x0 + px / plane.width * (x1 - x0),
                              y0 + (1 - py / plane.height) * (y1 - y0)];
  let z = [(x0 + x1) / 2, (y0 + y1) / 2];
  async function show() {
    ctx.clearRect(0, 0, plane.width, plane.height);
    codes.forEach((c, i) => {
      ctx.fillStyle = `hsl(${36 * samples.labels[i]}, 80%, 45%)`;
      const [px, py] = toCanvas(c);
      ctx.fillText(String(samples.labels[i]), px - 3, py + 4);
    });
    const [px, py] = toCanvas(z);
    ctx.strokeStyle = '#000';
    ctx.beginPath();
    ctx.arc(px, py, 6, 0, 2 * Math.PI);
    ctx.stroke();
    const decoded = await infer(dae.models.decoder, Float32Array.from(z));
    paint($('decoded'), decoded);
    $('code').textContent = `z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)})`;
    dae.decoded = {z: Array.from(z), image: Array.from(decoded)};
  }
  let dragging = false;
  const move = (e) => {
    const r = plane.getBoundingClientRect();
    z = toCode((e.clientX - r.left) * plane.width / r.width,
               (e.clientY - r.top) * plane.height / r.height);
    show();
  };
  plane.addEventListener('pointerdown', (e) => {
    dragging = true;
    plane.setPointerCapture(e.pointerId);
    move(e);
  });
  plane.addEventListener('pointermove', (e) => dragging && move(e));
  plane.addEventListener('pointerup', () => { dragging = false; });
  $('latent').hidden = false;
  await show();
}

/** For benchmarks/web.py: milliseconds of `n` updates of the current digit (the whole path:
 * preprocessing, corruption, inference, painting) and of `n` inferences alone. */
async function benchmark(n) {
  const updates = [];
  const runs = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await requestUpdate();
    updates.push(performance.now() - start);
  }
  const model = dae.models[$('model').value];
  const x = Float32Array.from(dae.last.corrupted);
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await infer(model, x);
    runs.push(performance.now() - start);
  }
  return {updates, runs};
}

async function main() {
  await loadLiteRt('/lib/core/wasm/');
  dae.info = await (await fetchOk('/export/model.json')).json();
  const samples = await (await fetchOk('/export/samples.json')).json();
  const names = ['float32', 'int8'].concat(dae.info.latent_dim === 2 ? ['encoder', 'decoder'] : []);
  for (const name of names) {
    dae.models[name] = await loadModel(name);
  }
  const noise = $('corrupt');
  noise.disabled = !dae.info.add_noise;
  $('noise').textContent = dae.info.add_noise
    ? `${dae.info.noise}, rate ${dae.info.noise_rate}` : 'this model was trained without noise';
  const drawing = setUpDrawing();
  setUpSamples(samples, drawing);
  for (const control of [noise, $('model')]) control.addEventListener('change', requestUpdate);
  if (dae.info.latent_dim === 2) await setUpLatentPlane(samples);
  await requestUpdate();
  $('status').textContent = `Model ${dae.info.run_name}: LiteRT.js on WebAssembly, ` +
    `input binarized: ${dae.info.binarize_input}.`;
  dae.benchmark = benchmark;
  dae.ready = true;
}

main().catch((e) => {
  $('status').textContent = `Error: ${e.message}`;
  dae.error = String(e.message || e);
});
