"""Tests of keras_dae.core.rundir and keras_dae.core.locking: one run per folder, another
configuration refused, the completion fact, leftovers removed, and one writer at a time."""

import json
import os
import subprocess
import sys

from absl.testing import absltest

from keras_dae.core import durable, errors, locking, rundir
from keras_dae.core.config import TrainConfig
from tests.cli import ROOT, CliAssertions, run_module

HOLD_LOCK = """
import sys
from keras_dae.core import locking
with locking.exclusive(sys.argv[1], "run"):
    print("held", flush=True)
    sys.stdin.read()
"""


def hold_lock(folder: str) -> subprocess.Popen:
    """Another process that holds `folder`'s lock until it is killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, folder],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


class RunFolderTest(absltest.TestCase):
    def write_history(self, workdir, config, epochs, finished=False):
        with open(os.path.join(workdir, rundir.HISTORY), "w") as f:
            json.dump({"config": config.to_dict(), "epochs": epochs, "finished": finished}, f)

    def test_other_configuration_is_refused_unless_overwrite(self):
        workdir = self.create_tempdir().full_path
        config = TrainConfig(output_dir=workdir, latent_dim=10)
        self.write_history(workdir, config, [{"epoch": 1}])
        self.assertEqual(rundir.previous_epochs(config, workdir), [{"epoch": 1}])
        other = TrainConfig(output_dir=workdir, latent_dim=2, print_every=5)
        with self.assertRaisesRegex(errors.RunError, "latent_dim=10 there, 2 now.*--overwrite"):
            rundir.previous_epochs(other, workdir)
        overwrite = TrainConfig(output_dir=workdir, latent_dim=2, overwrite=True)
        self.assertEqual(rundir.previous_epochs(overwrite, workdir), [])

    def test_unreadable_history(self):
        workdir = self.create_tempdir().full_path
        with open(os.path.join(workdir, rundir.HISTORY), "w") as f:
            f.write("{half")
        with self.assertRaisesRegex(errors.RunError, "unreadable"):
            rundir.previous_epochs(TrainConfig(), workdir)

    def test_finished_only_once_the_completion_fact_is_written(self):
        workdir = self.create_tempdir().full_path
        config = TrainConfig(output_dir=workdir, epochs=1)
        epochs = [{"epoch": 1}]
        open(os.path.join(workdir, rundir.MODEL), "w").close()
        self.write_history(workdir, config, epochs)  # every epoch and the model, not finished
        self.assertFalse(rundir.is_finished(config, workdir))
        with self.assertRaisesRegex(errors.RunError, "not finished"):
            rundir.finished_run(workdir)
        rundir.write_history(workdir, config, epochs, finished=True)
        self.assertTrue(rundir.is_finished(config, workdir))
        self.assertEqual(rundir.finished_run(workdir)[1], epochs)
        open(rundir.backup_path(workdir), "w").close()  # left by a run killed as it completed
        with rundir.open_run(config) as run:
            self.assertTrue(run.finished)
        self.assertNotIn("backup.npz", os.listdir(workdir))
        with self.assertRaisesRegex(errors.RunError, "no history.json"):
            rundir.finished_run(self.create_tempdir().full_path)

    def test_open_run_removes_leftovers_and_holds_the_folder(self):
        workdir = self.create_tempdir().full_path
        open(os.path.join(workdir, durable.TEMP_PREFIX + "model.keras.x1.keras"), "w").close()
        config = TrainConfig(output_dir=workdir)
        with rundir.open_run(config) as run:
            self.assertEqual(os.listdir(workdir), [locking.LOCK_FILE])
            self.assertEqual(
                (run.workdir, run.outdir, run.epochs, run.finished), (workdir, workdir, [], False)
            )
            with (
                self.assertRaisesRegex(
                    errors.FolderLocked,
                    f"{workdir}: in use by another run \\(pid {os.getpid()}\\)",
                ),
                rundir.open_run(config),
            ):
                pass

    def test_not_a_folder(self):
        path = os.path.join(self.create_tempdir().full_path, "afile")
        open(path, "w").close()
        with (
            self.assertRaisesRegex(errors.RunError, "afile: not a folder"),
            rundir.open_run(TrainConfig(output_dir=path)),
        ):
            pass

    def test_paths_in_the_config_are_absolute(self):
        config = TrainConfig(output_dir="runs/x", data_dir="../data")
        self.assertEqual(config.output_dir, os.path.abspath("runs/x"))
        self.assertEqual(config.data_dir, os.path.abspath("../data"))


class LockTest(absltest.TestCase):
    def test_a_second_process_is_refused_until_the_holder_dies(self):
        folder = self.create_tempdir().full_path
        holder = hold_lock(folder)
        with (
            self.assertRaisesRegex(
                errors.FolderLocked, f"in use by another run \\(pid {holder.pid}\\)"
            ),
            locking.exclusive(folder, "run"),
        ):
            pass
        holder.kill()  # the kernel drops a dead process's lock
        holder.wait()
        with locking.exclusive(folder, "run"):
            pass


class CommandLineTest(CliAssertions, absltest.TestCase):
    def test_a_held_folder_or_a_file_is_refused_in_one_line(self):
        folder = self.create_tempdir().full_path
        holder = hold_lock(folder)
        try:
            run = run_module("keras_dae", "--data_dir", "/nonexistent", "--output_dir", folder)
            self.assert_one_line_error(
                run, "keras_dae", f"{folder}: in use by another run (pid {holder.pid})"
            )
        finally:
            holder.kill()
            holder.wait()
        afile = os.path.join(folder, "afile")
        open(afile, "w").close()
        run = run_module("keras_dae", "--data_dir", "/nonexistent", "--output_dir", afile)
        self.assert_one_line_error(run, "keras_dae", f"{afile}: not a folder")


if __name__ == "__main__":
    absltest.main()
