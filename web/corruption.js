// The training corruptions, as keras_dae/core/corruption.py defines them (the page applies the
// model's own kind and rate from model.json):
// - dropout: zero each pixel with probability rate, scale the survivors by 1 / (1 - rate)
// - mask: zero each pixel with probability rate, survivors unscaled
// - gaussian: add N(0, rate^2) noise, clip to [0, 1]

export const TRAINING_KINDS = ['dropout', 'mask', 'gaussian'];

/** A standard normal draw (Box-Muller). */
function normal(random) {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** x (Float32Array in [0, 1]) corrupted by kind at rate, as a new Float32Array. */
export function corrupt(x, kind, rate, random = Math.random) {
  if (!TRAINING_KINDS.includes(kind)) throw new Error(`unknown corruption ${kind}`);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    if (kind === 'gaussian') {
      out[i] = Math.min(Math.max(x[i] + rate * normal(random), 0), 1);
    } else if (random() >= rate) {
      out[i] = kind === 'dropout' ? x[i] / (1 - rate) : x[i];
    }
  }
  return out;
}
