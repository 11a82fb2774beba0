"""Running a command line in a subprocess, and checking its one-line error."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(
    module: str, *args: str, env: dict | None = None, timeout: int = 180, python_flags: tuple = ()
) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` from the repository root, output captured as text."""
    return subprocess.run(
        [sys.executable, *python_flags, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class CliAssertions:
    """A TestCase mixin: `assert_one_line_error`."""

    def assert_one_line_error(
        self, run: subprocess.CompletedProcess, prog: str, message: str, code: int = 1
    ) -> str:
        """`run` exited with `code`, printed no traceback, and exactly one line of its own (TF's
        start-up lines aside) that starts with `prog: error:` and contains `message`."""
        self.assertEqual(run.returncode, code, run.stderr[-2000:])
        self.assertNotIn("Traceback", run.stderr)
        lines = [line for line in run.stderr.splitlines() if line.startswith(f"{prog}:")]
        self.assertLen(lines, 1, run.stderr[-2000:])
        self.assertTrue(lines[0].startswith(f"{prog}: error: "), lines[0])
        self.assertIn(message, lines[0])
        return lines[0]
