"""The original's command line as its README prints it, with -e 1 and small data: it trains what
absl's spelling trains (the same history.json), `-p 1` logs every batch, `-n False` trains an AE."""

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor

from absl.testing import absltest

from keras_dae.core import rundir
from tests.cli import run_module
from tests.idx_fixtures import write_mnist_dir

ORIGINAL = [
    "-n",
    "True",
    "-b",
    "True",
    "-e",
    "1",
    "-ls",
    "CE",
    "-lr",
    "3e-4",
    "-z",
    "10",
    "-p",
    "1",
]
ABSL = [
    "--add_noise",
    "--binarize_input",
    "--epochs=1",
    "--loss=ce",
    "--learning_rate=3e-4",
    "--latent_dim=10",
    "--print_every=1",
]
AE = ["-n", "False", "-e", "1", "-p", "0"]


class OriginalCommandLineTest(absltest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="original_cli_test-")
        data_dir = os.path.join(cls.tmp, "mnist")
        os.makedirs(data_dir)
        write_mnist_dir(data_dir, n_train=300, n_test=100)  # 5 batches of 64.
        cls.dirs = {name: os.path.join(cls.tmp, name) for name in ("original", "absl", "ae")}
        commands = {"original": ORIGINAL, "absl": ABSL, "ae": AE}
        with ThreadPoolExecutor(len(commands)) as pool:  # Three processes: one wait.
            runs = {
                name: pool.submit(
                    run_module,
                    "keras_dae",
                    *args,
                    f"--data_dir={data_dir}",
                    f"--output_dir={cls.dirs[name]}",
                    timeout=300,
                )
                for name, args in commands.items()
            }
            cls.runs = {name: future.result() for name, future in runs.items()}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def history(self, name: str) -> dict:
        self.assertEqual(self.runs[name].returncode, 0, self.runs[name].stderr[-2000:])
        return rundir.read_history(self.dirs[name])

    def test_as_printed_it_exits_0_saying_the_absl_spelling_once(self):
        run = self.runs["original"]
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        self.assertNotIn("Traceback", run.stderr)
        said = [line for line in run.stderr.splitlines() if line.startswith("keras_dae: read")]
        self.assertEqual(
            said,
            ["keras_dae: read -n True -b True as --add_noise --binarize_input (absl's spelling)"],
        )

    def test_the_same_history_as_the_absl_spelling(self):
        original, spelled = self.history("original"), self.history("absl")
        for saved in (original, spelled):
            del saved["config"]["output_dir"]
            for epoch in saved["epochs"]:
                del epoch["seconds"]
        self.assertEqual(original, spelled)
        self.assertTrue(original["finished"])
        self.assertEqual(original["config"]["loss"], "ce")

    def test_p_1_logs_every_batch(self):
        lines = [line for line in self.runs["original"].stderr.splitlines() if "batch " in line]
        self.assertEqual(
            [line.split("] ")[-1].split(":")[0] for line in lines],
            [f"epoch 1 batch {b}/5" for b in range(1, 6)],
        )

    def test_n_false_trains_an_ae(self):
        saved = self.history("ae")
        self.assertFalse(saved["config"]["add_noise"])
        self.assertIsNone(saved["epochs"][0]["test_loss_noisy"])
        self.assertIn("AE-CE-z10-e1.png", os.listdir(self.dirs["ae"]))
        self.assertNotIn("noised.png", os.listdir(self.dirs["ae"]))
        self.assertIn("read -n False as --noadd_noise", self.runs["ae"].stderr)


if __name__ == "__main__":
    absltest.main()
