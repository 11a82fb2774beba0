"""The web demo's speed in headless Chromium: milliseconds per reconstruction of a drawn digit
(median of --repeats), LiteRT.js on WebAssembly, float32 and int8; the whole update (canvas ->
MNIST preprocessing -> training noise -> inference -> three panels painted) and the inference
alone. Optionally saves the page's screenshot (the README's figure).

    python -m benchmarks.web --export_dir exports/dae [--screenshot docs/web-demo.png]

Without --export_dir, a tiny export is trained and converted first (tests/web_fixtures.py).
Prints one JSON object and a markdown table."""

import json
import os
import platform
import statistics
import sys
import tempfile

from absl import app
from PIL import Image

from keras_dae import flags

FLAGS = flags.FLAGS
# A 7 on the 280x280 canvas, as fractions of its side: the bar, then the stem.
SEVEN = [(0.28, 0.22), (0.72, 0.2), (0.62, 0.45), (0.48, 0.82)]


def draw(page, points) -> None:
    """One stroke through `points` with the mouse (pointer events), as a user draws."""
    box = page.locator("#draw").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for point in at[1:]:
        page.mouse.move(*point, steps=8)
    page.mouse.up()
    page.wait_for_function("!window.dae.busy")


def measure(page, model: str, repeats: int) -> dict:
    page.select_option("#model", model)
    page.wait_for_function("!window.dae.busy")
    page.evaluate("n => window.dae.benchmark(n)", 10)  # Warm-up.
    times = page.evaluate("n => window.dae.benchmark(n)", repeats)
    return {
        "model": model,
        "update_ms": round(statistics.median(times["updates"]), 3),
        "inference_ms": round(statistics.median(times["runs"]), 3),
        "update_ms_p90": round(statistics.quantiles(times["updates"], n=10)[-1], 3),
    }


def save_screenshot(page, path: str) -> None:
    """The page as a small palette PNG."""
    page.select_option("#model", "float32")
    page.wait_for_function("!window.dae.busy")
    with tempfile.TemporaryDirectory() as folder:
        raw = os.path.join(folder, "page.png")
        page.screenshot(path=raw, full_page=True)
        with Image.open(raw) as image:
            image.convert("RGB").quantize(64).save(path, optimize=True)


def main(argv):
    del argv
    from playwright.sync_api import sync_playwright

    from tests.web_fixtures import CHROMIUM, CHROMIUM_ARGS, start_server, tiny_export

    export_dir = FLAGS.export_dir
    if export_dir is None:
        export_dir = os.path.join(tempfile.mkdtemp(prefix="web_benchmark-"), "export")
        tiny_export(export_dir)
    server, url = start_server(export_dir)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": 860})
            page.goto(url)
            page.wait_for_function(
                "window.dae && (window.dae.ready || window.dae.error)", timeout=120_000
            )
            if page.evaluate("window.dae.error"):
                sys.exit(f"benchmarks.web: error: {page.evaluate('window.dae.error')}")
            draw(page, SEVEN)
            page.check("#corrupt")
            rows = [measure(page, model, FLAGS.repeats) for model in ("float32", "int8")]
            resolution = page.evaluate("crossOriginIsolated ? '5 us' : '100 us'")
            if FLAGS.screenshot:
                save_screenshot(page, FLAGS.screenshot)
            version = browser.version
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        json.dumps(
            {
                "export": export_dir,
                "browser": f"Chromium {version} (headless)",
                "cpu": platform.processor() or platform.machine(),
                "timer_resolution": resolution,
                "repeats": FLAGS.repeats,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(
        f"| model (LiteRT.js, wasm) | update, median of {FLAGS.repeats} (ms) | update p90 (ms) "
        "| inference alone, median (ms) |"
    )
    print("| --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['model']} | {r['update_ms']} | {r['update_ms_p90']} | {r['inference_ms']} |")


if __name__ == "__main__":
    flags.define_web_benchmark_flags()
    app.run(main, flags_parser=flags.parse_or_exit)
