"""Fault injection for training (tests/training_faults.py runs the cases): a run killed before or
after any of its renames, failing one with ENOSPC, or signalled in any phase, then rerun, ends
exactly as an uninterrupted run: the same losses, one record per epoch, no stray files."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from absl.testing import absltest

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUTS = {
    ".lock",
    "DAE-CE-z10-e1.png",
    "DAE-CE-z10-e2.png",
    "DAE-CE-z10-e2-clean.png",
    "history.json",
    "latent.png",
    "loss.png",
    "model.keras",
    "noised.png",
    "truth.png",
}
LOSSES = ("train_loss", "test_loss_clean", "test_loss_noisy")


class TrainingFaultsTest(absltest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.root = tempfile.mkdtemp(prefix="training_faults-")
        run = subprocess.run(
            [sys.executable, os.path.join(HERE, "training_faults.py"), cls.root],
            env={**os.environ, "PYTHONPATH": os.path.dirname(HERE)},
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert run.returncode == 0, run.stderr[-3000:]
        with open(os.path.join(cls.root, "results.json")) as f:
            cls.results = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)
        super().tearDownClass()

    def assert_like_reference(self, final, msg):
        reference = self.results["reference"]["history"]
        history = final["history"]
        self.assertTrue(history["finished"], msg)
        self.assertEqual([e["epoch"] for e in history["epochs"]], [1, 2], msg)
        for key in LOSSES:
            np.testing.assert_allclose(
                [e[key] for e in history["epochs"]],
                [e[key] for e in reference["epochs"]],
                rtol=1e-5,
                err_msg=f"{key}: {msg}",
            )
        self.assertEqual(set(final["files"]), OUTPUTS, msg)  # no temporaries, no backup left

    def test_reference_run(self):
        self.assertEqual(set(self.results["reference"]["files"]), OUTPUTS)
        self.assertGreaterEqual(self.results["renames"], 11)  # 2 per epoch + figures + model

    def test_every_rename_killed_before_and_after(self):
        cases = [
            c
            for c in self.results["cases"]
            if c["fault"]["kind"] in ("kill_before_rename", "kill_after_rename")
        ]
        self.assertEqual(len(cases), 2 * self.results["renames"])
        for case in cases:
            msg = json.dumps(case["fault"])
            self.assertEqual(case["faulted"]["code"], 137, msg)
            self.assertEqual(case["rerun"]["code"], 0, msg + str(case["rerun"]))
            self.assert_like_reference(case["final"], msg)

    def test_killed_mid_epoch(self):
        [case] = [c for c in self.results["cases"] if c["fault"]["kind"] == "kill_at_batch"]
        self.assertEqual(case["faulted"]["code"], 137)
        self.assertEqual([e["epoch"] for e in case["after_fault"]["history"]["epochs"]], [1])
        self.assertIn("backup.npz", case["after_fault"]["files"])
        self.assertEqual(case["rerun"]["code"], 0)
        self.assert_like_reference(case["final"], "killed in epoch 2, batch 1")

    def test_disk_full_is_one_line_and_resumable(self):
        cases = [c for c in self.results["cases"] if c["fault"]["kind"] == "fail_rename"]
        self.assertNotEmpty(cases)
        for case in cases:
            msg = json.dumps(case["fault"])
            self.assertEqual(case["faulted"]["code"], 1, msg)
            self.assertLen(case["faulted"]["lines"], 1, msg)
            self.assertRegex(
                case["faulted"]["lines"][0],
                r"^keras_dae: error: /.+: No space left on device$",
                msg,
            )
            self.assertEqual(case["rerun"]["code"], 0, msg)
            self.assert_like_reference(case["final"], msg)

    def test_signals_in_every_phase(self):
        cases = [c for c in self.results["cases"] if c["fault"]["kind"] == "signal"]
        self.assertEqual(
            [c["fault"]["phase"] for c in cases],
            ["loading", "training", "evaluation", "figures", "final save"],
        )
        for case in cases:
            msg = json.dumps(case["fault"])
            name = "SIGINT" if case["fault"]["signum"] == 2 else "SIGTERM"
            self.assertEqual(case["faulted"]["code"], 128 + case["fault"]["signum"], msg)
            self.assertLen(case["faulted"]["lines"], 1, msg)
            self.assertRegex(
                case["faulted"]["lines"][0],
                rf"^keras_dae: stopped by {name}: \d of 2 epochs are saved in .*; "
                "run the same command again to resume$",
                msg,
            )
            self.assertEqual(case["rerun"]["code"], 0, msg)
            self.assert_like_reference(case["final"], msg)


if __name__ == "__main__":
    absltest.main()
