"""The parity report: each TFLite model against the Keras model on the test set (the five
autoencoder variants, and the encoder and decoder halves)."""

import os

import numpy as np

from keras_dae.export.litert import LiteRTModel

EPS = 1e-7  # Keras's clip for cross-entropy on probabilities.


def cross_entropy(targets: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean per-pixel binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7]."""
    p = np.clip(probabilities.astype(np.float64), EPS, 1 - EPS)
    return float(-np.mean(targets * np.log(p) + (1 - targets) * np.log1p(-p)))


def _checked(
    path: str,
    outputs: np.ndarray,
    reference: np.ndarray,
    test_ce: float,
    reference_ce: float,
    tolerance: float,
) -> dict:
    """A TFLite model's outputs against Keras's: size, max |difference|, test CE and its relative
    change, which must stay within `tolerance`."""
    change = (test_ce - reference_ce) / reference_ce
    return {
        "file": os.path.basename(path),
        "bytes": os.path.getsize(path),
        "max_abs_diff": float(np.max(np.abs(outputs - reference))),
        "test_ce": test_ce,
        "ce_change": change,
        "ce_tolerance": tolerance,
        "passed": bool(change <= tolerance),
    }


def variant_row(
    name: str,
    path: str,
    x_test: np.ndarray,
    reference: np.ndarray,
    reference_ce: float,
    tolerance: float,
    num_threads: int,
    invokes: int,
) -> dict:
    """An autoencoder variant against Keras on the test set, and its batch-1 latency."""
    model = LiteRTModel(path, num_threads)
    outputs = model.run(x_test)
    checked = _checked(
        path, outputs, reference, cross_entropy(x_test, outputs), reference_ce, tolerance
    )
    return {"variant": name, **checked, "latency_us_batch1": model.latency_us(x_test, invokes)}


def half_row(
    name: str,
    path: str,
    outputs: np.ndarray,
    reference: np.ndarray,
    test_ce: float,
    reference_ce: float,
    tolerance: float,
) -> dict:
    """The encoder or decoder .tflite against its Keras half: its outputs (codes or pixels), and
    the test CE of the whole reconstruction made with it (the other half Keras)."""
    return {"part": name, **_checked(path, outputs, reference, test_ce, reference_ce, tolerance)}


def failed(report: dict) -> list[str]:
    """The names of the TFLite models beyond their tolerance."""
    return [r["variant"] for r in report["variants"] if not r["passed"]] + [
        r["part"] for r in report["halves"] if not r["passed"]
    ]


def markdown(report: dict) -> str:
    """The report as a markdown page."""
    lines = [
        f"# Export parity report: version {report['version']}",
        "",
        (
            f"Model: `{report['model']}`; test set: {report['test_images']} images; Keras "
            f"test CE {report['keras_test_ce']:.5f}; LiteRT with {report['num_threads']} "
            "thread(s)."
        ),
        "",
        (
            "| variant | bytes | max abs diff | test CE | CE change | limit | batch-1 latency "
            "(median, us) | passed |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in report["variants"]:
        lines.append(
            f"| {r['variant']} | {r['bytes']:,} | {r['max_abs_diff']:.2e} | "
            f"{r['test_ce']:.5f} | {r['ce_change']:+.3%} | {r['ce_tolerance']:.1%} | "
            f"{r['latency_us_batch1']:.1f} | {'yes' if r['passed'] else 'NO'} |"
        )
    lines += [
        "",
        (
            "Encoder and decoder, each against its Keras half (max abs diff of codes and "
            "of pixels; test CE of the reconstruction with the other half in Keras):"
        ),
        "",
        "| part | bytes | max abs diff | test CE | CE change | limit | passed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in report["halves"]:
        lines.append(
            f"| {r['part']} | {r['bytes']:,} | {r['max_abs_diff']:.2e} | "
            f"{r['test_ce']:.5f} | {r['ce_change']:+.3%} | {r['ce_tolerance']:.1%} | "
            f"{'yes' if r['passed'] else 'NO'} |"
        )
    micro = report.get("micro")
    if micro:
        lines += [
            "",
            (
                f"TFLM against LiteRT (`int8_io`, batch 1, first {micro['images']} test "
                f"images): {micro['differing_fraction']:.2%} of outputs differ, by at most "
                f"{micro['max_steps']} int8 step(s); test CE {micro['tflm_ce']:.5f} (TFLM) "
                f"vs {micro['litert_ce']:.5f} (LiteRT)."
            ),
        ]
    return "\n".join(lines) + "\n"
