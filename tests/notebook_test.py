"""notebooks/keras_dae.ipynb executed by nbclient on small data (its parameters injected after the
cell tagged `parameters`, as papermill does), and keras_dae.notebook's kernel detection."""

import os
import shutil
import sys
import tempfile
import types
from unittest import mock

import nbclient
import nbformat
from absl.testing import absltest

import keras_dae
from keras_dae import notebook
from tests.cli import ROOT
from tests.idx_fixtures import write_mnist_dir

NOTEBOOK = os.path.join(ROOT, "notebooks", "keras_dae.ipynb")
PROGRESS_BYTES = 4096  # "A few KB" of progress text for a one-epoch run.


def inject_parameters(nb, **values) -> None:
    """Inserts a cell setting `values` after the one tagged `parameters` (papermill's way)."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))


class NotebookTest(absltest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="notebook_test-")
        data_dir = os.path.join(cls.tmp, "mnist")
        os.makedirs(data_dir)
        write_mnist_dir(data_dir, n_train=300, n_test=100)
        cls.committed = nbformat.read(NOTEBOOK, as_version=4)
        cls.nb = nbformat.read(NOTEBOOK, as_version=4)
        inject_parameters(
            cls.nb,
            DATA_DIR=data_dir,
            EPOCHS=1,
            RUN_DIR=os.path.join(cls.tmp, "run"),
            EXPORT_DIR=os.path.join(cls.tmp, "export"),
            CALIBRATION_EXAMPLES=50,
        )
        # The kernel runs in the notebook's folder, as Jupyter starts it, with this Python.
        nbclient.NotebookClient(
            cls.nb,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}},
        ).execute()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def cell_calling(self, text: str):
        return next(c for c in self.nb.cells if c.cell_type == "code" and text in c.source)

    def test_the_original_cell_shows_the_grids_and_the_progress(self):
        cell = self.cell_calling("main(")
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        # Truth, noised truth, both reconstructions and the loss curves.
        self.assertLen(images, 5)
        streams = [o for o in cell.outputs if o.output_type == "stream"]
        self.assertEqual({o.name for o in streams}, {"stdout"})  # No start-up lines on stderr.
        progress = "".join(o.text for o in streams)
        self.assertLessEqual(len(progress.encode()), PROGRESS_BYTES)
        self.assertIn("Epoch 1/1", progress)
        self.assertIn("test_loss_noisy: ", progress)  # The bar's last draw, with the test losses.

    def test_every_cell_ran_and_the_later_ones_show_a_figure(self):
        for cell in self.nb.cells:
            if cell.cell_type == "code":
                self.assertEmpty([o for o in cell.outputs if o.output_type == "error"])
        for text in ("pca_2d(codes)", "export_model("):
            outputs = self.cell_calling(text).outputs
            self.assertTrue(any("image/png" in o.get("data", {}) for o in outputs), text)

    def test_committed_without_outputs(self):
        for cell in self.committed.cells:
            if cell.cell_type == "code":
                self.assertEqual((cell.outputs, cell.execution_count), ([], None))


class KernelDetectionTest(absltest.TestCase):
    def test_main_is_train(self):
        self.assertIs(keras_dae.main, keras_dae.train)

    def test_not_a_notebook_here(self):
        self.assertFalse(notebook.in_notebook())

    def test_a_kernel_is_a_notebook_and_a_terminal_ipython_is_not(self):
        for kernel, expected in ((object(), True), (None, False)):
            shell = types.SimpleNamespace(kernel=kernel)
            ipython = types.SimpleNamespace(get_ipython=lambda shell=shell: shell)
            with mock.patch.dict(sys.modules, {"IPython": ipython}):
                self.assertEqual(notebook.in_notebook(), expected)


if __name__ == "__main__":
    absltest.main()
