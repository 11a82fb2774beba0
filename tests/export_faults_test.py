"""Fault injection into publishing an export version, and `verify`'s verdicts.

A child process (tests/export_fault_child.py) publishes a prepared version the way export_model
does and dies at the n-th durable boundary (mkdir, rename, fsync, unlink, rmdir), for every n;
after each kill: verify tells the truth, the latest published version is the old or the new one
complete, and a rerun publishes cleanly. No TensorFlow here: the conversions are not what can
be torn (export_pipeline_test runs the real export after such a kill)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent import futures
from unittest import mock

from absl import logging
from absl.testing import absltest

from keras_dae.core import durable
from keras_dae.export import layout, manifest, publish, verify
from tests import export_fault_child

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
# Each boundary is a child process; on tmpfs its fsyncs cost nothing (what is tested is a kill,
# not a power cut).
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def write_prepared(folder: str) -> None:
    """The files of one version: a stand-in SavedModel and every file a record holds."""
    files = {"saved_model/saved_model.pb": b"graph", "saved_model/variables/variables.index": b"i"}
    files.update({f"record/{name}": name.encode() for name in layout.RECORD_FILES})
    for name, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)


def run_child(prepared: str, export_dir: str, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.export_fault_child", prepared, export_dir, str(kill_at)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def leftovers(export_dir: str) -> list[str]:
    return layout.temporaries(export_dir) + layout.incomplete_versions(export_dir)


class FaultSweepTest(absltest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="export_faults-", dir=FAST_TMP)
        cls.prepared = os.path.join(cls.tmp, "prepared")
        write_prepared(cls.prepared)
        cls.trees = {
            part: export_fault_child.read_tree(os.path.join(cls.prepared, part))
            for part in ("saved_model", "record")
        }
        cls.one_version = os.path.join(cls.tmp, "one_version")
        assert run_child(cls.prepared, cls.one_version, 0).returncode == 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def fresh(self, source: str) -> str:
        export_dir = tempfile.mkdtemp(dir=self.tmp)
        os.rmdir(export_dir)
        shutil.copytree(source, export_dir)
        return export_dir

    def boundaries(self, source: str) -> tuple[int, int]:
        """(boundaries until the leftovers are cleared, boundaries in all) of one publish."""
        run = run_child(self.prepared, self.fresh(source), 0)
        self.assertEqual(run.returncode, 0, run.stderr)
        cleared, total = map(int, run.stdout.split())
        return cleared, total

    def assert_published_whole(self, export_dir: str, version: int) -> None:
        """saved_model/<v> and versions/<v> hold exactly the prepared files (and the manifest)."""
        for part, folder in (
            ("saved_model", layout.saved_model_dir(export_dir, version)),
            ("record", layout.version_dir(export_dir, version)),
        ):
            expected = manifest.folder_files(os.path.join(self.prepared, part))
            found = [
                f
                for f in manifest.folder_files(folder)
                if not (part == "record" and f == layout.MANIFEST)
            ]
            self.assertEqual(found, expected)
            for name in found:
                with (
                    open(os.path.join(folder, name), "rb") as a,
                    open(os.path.join(self.prepared, part, name), "rb") as b,
                ):
                    self.assertEqual(a.read(), b.read(), name)

    def check_after_kill(self, export_dir: str, old: int, new: int, n: int) -> str:
        """The invariants after a kill; returns the class of state verify described."""
        latest = layout.latest_version(export_dir)
        self.assertIn(latest, (old, new), n)
        for version in layout.published_versions(export_dir):
            self.assert_published_whole(export_dir, version)
        left = leftovers(export_dir)
        problems = verify.problems(export_dir)
        self.assertLen(problems, len(left), (n, problems, left))  # Nothing else, nothing missed.
        for name, problem in zip(left, problems):
            self.assertTrue(problem.startswith(f"{name}: "), (n, problem))
        if not left:
            return f"clean, version {latest} published"
        kinds = sorted(
            {"incomplete version" if "incomplete" in p else "temporary" for p in problems}
        )
        return f"version {latest} published; reported: {' + '.join(kinds)}"

    def check_rerun(self, export_dir: str, n: int) -> None:
        """A rerun (in this process: no fault) removes the leftovers, in one line naming them,
        and publishes a new version."""
        before, left = layout.latest_version(export_dir), leftovers(export_dir)
        with self.assertLogs("absl", "INFO") as logs:
            logging.info("rerun after a kill at %d", n)
            export_fault_child.publish_prepared(self.trees, export_dir, [0])
        removed = [line for line in logs.output if "removed what a killed" in line]
        self.assertLen(removed, 1 if left else 0, (n, logs.output))
        for name in left:
            self.assertIn(name, removed[0])
        latest = layout.latest_version(export_dir)
        self.assertGreater(latest, before, n)
        self.assertEqual(latest, layout.next_version(export_dir) - 1, n)  # Taken, not reused.
        self.assertEmpty(verify.problems(export_dir), n)
        self.assertEmpty(leftovers(export_dir), n)
        self.assertEmpty(
            [e for e in os.listdir(export_dir) if e.startswith(durable.TEMP_PREFIX)], n
        )

    def sweep(self, source: str, kill_points: range) -> dict:
        """Kills a publish into a copy of `source` at each point; returns {verdict: count}."""
        old, new = layout.latest_version(source), layout.next_version(source)
        folders = {n: self.fresh(source) for n in kill_points}
        with futures.ThreadPoolExecutor(2) as pool:  # The children, two at a time.
            killed = dict(
                zip(folders, pool.map(lambda n: run_child(self.prepared, folders[n], n), folders))
            )
        verdicts = {}
        for n, export_dir in folders.items():
            self.assertEqual(killed[n].returncode, 1, (n, killed[n].stderr))
            verdict = self.check_after_kill(export_dir, old, new, n)
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
            self.check_rerun(export_dir, n)
            shutil.rmtree(export_dir)
        return verdicts

    def test_kill_at_every_boundary_of_a_publish(self):
        _, total = self.boundaries(self.one_version)
        self.assertGreater(total, 50)
        verdicts = self.sweep(self.one_version, range(1, total + 1))
        print(f"\nkill at each of {total} boundaries of a publish: {verdicts}")
        self.assertEqual(sum(verdicts.values()), total)
        self.assertIn("clean, version 2 published", verdicts)  # Killed in its last fsync.
        self.assertIn("version 1 published; reported: incomplete version + temporary", verdicts)

    def test_kill_at_every_boundary_of_clearing_leftovers(self):
        # The state a kill between the two renames leaves: version 2's SavedModel without its
        # record, beside a temporary.
        torn = self.fresh(self.one_version)
        _, total = self.boundaries(self.one_version)
        for n in range(total, 0, -1):
            shutil.rmtree(torn)
            torn = self.fresh(self.one_version)
            run_child(self.prepared, torn, n)
            if layout.incomplete_versions(torn) == ["saved_model/2"]:
                break
        os.makedirs(os.path.join(torn, durable.TEMP_PREFIX + "versions-9.x", "tflite"))
        cleared, _ = self.boundaries(torn)
        verdicts = self.sweep(torn, range(1, cleared + 1))
        print(f"\nkill at each of {cleared} boundaries of clearing leftovers: {verdicts}")
        self.assertEqual(sum(verdicts.values()), cleared)


def make_export(folder: str, versions: int = 1) -> str:
    """An export folder with `versions` published versions of stand-in files."""
    prepared = os.path.join(folder, "prepared")
    write_prepared(prepared)
    export_dir = os.path.join(folder, "export")
    for _ in range(versions):
        run = run_child(prepared, export_dir, 0)
        assert run.returncode == 0, run.stderr
    return export_dir


class VerifyTest(absltest.TestCase):
    def setUp(self):
        super().setUp()
        self.export_dir = make_export(self.create_tempdir().full_path, versions=2)

    def rewrite_manifest(self, version: int, change) -> None:
        """Replaces the manifest by the text `change`, or by change(the published manifest)."""
        path = os.path.join(layout.version_dir(self.export_dir, version), layout.MANIFEST)
        published = manifest.build(
            version,
            layout.saved_model_dir(self.export_dir, version),
            layout.version_dir(self.export_dir, version),
        )
        with open(path, "w") as f:
            f.write(change(published) if callable(change) else change)

    def test_a_published_export_passes(self):
        self.assertEmpty(verify.problems(self.export_dir))
        self.assertIn("version 2 and 1 older", verify.summary(self.export_dir))

    def test_missing_changed_and_extra_files(self):
        record = layout.version_dir(self.export_dir, 2)
        os.remove(os.path.join(record, "report.md"))
        with open(os.path.join(record, "tflite", "int8.tflite"), "ab") as f:
            f.write(b"\0")
        with open(os.path.join(record, "tflite", "extra.tflite"), "wb") as f:
            f.write(b"x")
        with open(os.path.join(layout.saved_model_dir(self.export_dir, 2), "new.pb"), "wb") as f:
            f.write(b"x")
        self.assertCountEqual(
            verify.problems(self.export_dir),
            [
                "versions/2/report.md: missing",
                "versions/2/tflite/int8.tflite: sha256 differs from the manifest",
                "versions/2/tflite/extra.tflite: extra file, not in the manifest",
                "saved_model/2/new.pb: extra file, not in the manifest",
            ],
        )

    def test_a_damaged_older_version_is_reported(self):
        with open(
            os.path.join(layout.saved_model_dir(self.export_dir, 1), "saved_model.pb"), "ab"
        ) as f:
            f.write(b"\0")
        self.assertEqual(
            verify.problems(self.export_dir),
            ["saved_model/1/saved_model.pb: sha256 differs from the manifest"],
        )

    def test_malformed_manifests(self):
        cases = [
            ("", "unreadable (JSONDecodeError)"),
            ("[]", "malformed"),
            ('{"version": 2, "files": {}}', "lists no files"),
            ('{"version": 1, "files": {"a": "b"}}', "records version 1, not 2"),
            (
                lambda m: json.dumps(
                    {**m, "files": {**m["files"], "versions/2/report.md": "not hex"}}
                ),
                "no sha256 hex digest",
            ),
        ]
        for text, message in cases:
            self.rewrite_manifest(2, text)
            problems = verify.problems(self.export_dir)
            self.assertLen(problems, 1, problems)
            self.assertStartsWith(problems[0], "versions/2/manifest.json: ")
            self.assertIn(message, problems[0])
        os.remove(os.path.join(layout.version_dir(self.export_dir, 2), layout.MANIFEST))
        self.assertEqual(verify.problems(self.export_dir), ["versions/2/manifest.json: missing"])

    def test_paths_leaving_the_version_are_refused_unopened(self):
        outside = os.path.join(os.path.dirname(self.export_dir), "secret")
        with open(outside, "w") as f:
            f.write("secret")
        digest = manifest.sha256(outside)
        bad = [
            outside,
            "../secret",
            "versions/2/../../../secret",
            "versions/1/report.md",
            "versions/2/link",
        ]
        self.rewrite_manifest(
            2, lambda m: json.dumps({**m, "files": {**m["files"], **{p: digest for p in bad}}})
        )
        os.symlink(outside, os.path.join(layout.version_dir(self.export_dir, 2), "link"))
        with mock.patch.object(manifest, "sha256", wraps=manifest.sha256) as hashed:
            problems = verify.problems(self.export_dir)
        self.assertCountEqual(
            [p for p in problems if "refused" in p],
            [
                f"{outside!r}: refused, an absolute path",
                "'../secret': refused, not a plain relative path ('..', '.' or empty parts)",
                (
                    "'versions/2/../../../secret': refused, not a plain relative path "
                    "('..', '.' or empty parts)"
                ),
                "'versions/1/report.md': refused, outside version 2's folders",
                "'versions/2/link': refused, leads out of its folder (a link)",
            ],
        )
        opened = [os.path.realpath(call.args[0]) for call in hashed.call_args_list]
        self.assertNotIn(os.path.realpath(outside), opened)

    def test_leftovers_and_unexpected_entries(self):
        # What an export killed between its two renames leaves: number 3 taken, its SavedModel.
        self.assertEqual(layout.take_version(self.export_dir), 3)
        os.makedirs(os.path.join(self.export_dir, durable.TEMP_PREFIX + "saved_model-3.x"))
        shutil.copytree(
            layout.saved_model_dir(self.export_dir, 2), layout.saved_model_dir(self.export_dir, 3)
        )
        with open(os.path.join(self.export_dir, "notes.txt"), "w") as f:
            f.write("x")
        problems = verify.problems(self.export_dir)
        self.assertEqual(
            problems,
            [
                "notes.txt: unexpected (an export never writes it)",
                (
                    ".partial-saved_model-3.x: temporary left by a killed export (the next export "
                    "removes it)"
                ),
                (
                    "saved_model/3: incomplete version, its other folder is missing "
                    "(left by a killed export; the next export removes it)"
                ),
            ],
        )
        with self.assertRaisesRegex(Exception, "notes.txt, which an export never writes"):
            publish.clear_leftovers(self.export_dir)
        os.remove(os.path.join(self.export_dir, "notes.txt"))
        self.assertEqual(
            publish.remove_leftovers(self.export_dir),
            [".partial-saved_model-3.x", "saved_model/3 (incomplete version)"],
        )
        self.assertEmpty(verify.problems(self.export_dir))
        self.assertEqual(layout.next_version(self.export_dir), 4)  # 3 was taken: never reused.

    def test_cli_one_line_per_problem(self):
        folder = self.create_tempdir().full_path
        a_file = os.path.join(folder, "file")
        open(a_file, "w").close()
        os.remove(os.path.join(layout.version_dir(self.export_dir, 1), "model.json"))
        cases = [
            ([self.export_dir], 1, ["versions/1/model.json: missing"]),
            ([os.path.join(folder, "none")], 1, ["no such folder"]),
            ([a_file], 1, ["not a folder"]),
            ([folder], 1, ["file: unexpected", "no published version"]),
        ]
        for args, code, lines in cases:
            run = subprocess.run(
                [sys.executable, "-m", "export", "verify", *args],
                cwd=ROOT,
                check=False,
                capture_output=True,
                text=True,
                timeout=120,
            )
            self.assertEqual(run.returncode, code, run.stderr)
            self.assertNotIn("Traceback", run.stderr)
            found = run.stderr.splitlines()
            self.assertLen(found, len(lines), found)
            for line, expected in zip(found, lines):
                self.assertStartsWith(line, f"{args[0]}: {expected}")


if __name__ == "__main__":
    absltest.main()
