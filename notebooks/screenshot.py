"""Executes notebooks/keras_dae.ipynb on real MNIST and shoots its first cells (docs/notebook.png):
nbclient runs it in a fresh folder, nbconvert renders the HTML, Debian's Chromium (driven by
Playwright, no browser download) takes the picture.

    python -m notebooks.screenshot --data_dir ../shared/data/mnist [--epochs 10]"""

import os
import tempfile

import nbclient
import nbconvert
import nbformat
from absl import app

from keras_dae import flags
from tests.notebook_test import NOTEBOOK, inject_parameters
from tests.web_fixtures import CHROMIUM, CHROMIUM_ARGS

FLAGS = flags.FLAGS
WIDTH = 1000  # CSS pixels of the page: the figures at their own size.


def executed(folder: str) -> nbformat.NotebookNode:
    """The notebook run to its end, its run and export in `folder`; carriage returns applied, so
    the progress bar shows as its last drawing, as Jupyter shows it."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    inject_parameters(
        nb,
        DATA_DIR=os.path.abspath(FLAGS.data_dir),
        EPOCHS=FLAGS.epochs,
        RUN_DIR=os.path.join(folder, "runs", "DAE-CE-z10"),
        EXPORT_DIR=os.path.join(folder, "exports", "dae"),
    )
    nbclient.NotebookClient(
        nb,
        timeout=1800,
        kernel_name="python3",
        coalesce_streams=True,
        resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}},
    ).execute()
    return nb


def main(argv):
    del argv
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (its flags are checked first)

    with tempfile.TemporaryDirectory(prefix="notebook-screenshot-") as folder:
        html, _ = nbconvert.HTMLExporter(template_name="lab").from_notebook_node(executed(folder))
        page_path = os.path.join(folder, "keras_dae.html")
        with open(page_path, "w") as f:
            f.write(html)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": WIDTH, "height": FLAGS.height})
            page.goto(f"file://{page_path}")
            page.screenshot(
                path=FLAGS.output, clip={"x": 0, "y": 0, "width": WIDTH, "height": FLAGS.height}
            )
            browser.close()
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    flags.define_notebook_screenshot_flags()
    app.run(main, flags_parser=flags.parse_or_exit)
