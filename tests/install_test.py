"""Each install, run for real: `pip install .[serve]` and `pip install .` into fresh virtual
environments by deploy/install, the serving image's own install step (read from deploy/Dockerfile),
then the image's command and the base install's commands run there, without TensorFlow."""

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import numpy as np
from absl.testing import absltest
from PIL import Image

from keras_dae.core import mnist
from keras_dae.export import layout
from keras_dae.export.litert import LiteRTModel
from tests.cli import ROOT
from tests.export_fixtures import publish_test_version, train_tiny_run
from tests.idx_fixtures import write_mnist_dir
from tests.serving_fixtures import Server, predict

DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")
# pip's own installs, as users run them (CI's own install is uv's: pip's cache may be cold).
INSTALL_TIMEOUT = 900


def dockerfile_install() -> tuple[str, str, list[str]]:
    """(the build context's path inside the image, the extra, the image's command line) of
    deploy/Dockerfile: its one RUN line that calls deploy/install, and ENTRYPOINT + CMD."""
    with open(DOCKERFILE) as f:
        text = f.read()
    ((context, extra),) = re.findall(
        r"^RUN (?:--mount=\S+ )?sh (\S+)/deploy/install \1 (\S*)$", text, re.M
    )
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.*)$", text, re.M)[1])
    cmd = json.loads(re.search(r"^CMD (.*)$", text, re.M)[1])
    return context, extra, entrypoint + cmd


def docker_context(folder: str) -> str:
    """A copy of the checkout as `docker build .` sends it: less what .dockerignore names (its
    patterns here: names at the top level, `**/name` at any depth, a trailing `*`)."""
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        patterns = [p.strip() for p in f if p.strip() and not p.startswith("#")]

    def ignored(relative: str) -> bool:
        parts = relative.split(os.sep)
        return any(
            fnmatch.fnmatch(parts[-1], p[3:])
            if p.startswith("**/")
            else fnmatch.fnmatch(relative, p)
            for p in patterns
        )

    shutil.copytree(ROOT, folder, ignore=lambda d, names: [
        n for n in names if ignored(os.path.relpath(os.path.join(d, n), ROOT))
    ])  # fmt: skip
    return folder


def fresh_environment(folder: str, source: str, extra: str, editable: bool = False) -> str:
    """A new virtual environment in `folder` with keras-dae[extra] installed from `source` by
    deploy/install (or, `editable`, by `pip install -e`); returns its bin/ folder."""
    subprocess.run([sys.executable, "-m", "venv", folder], check=True, timeout=120)
    bin_dir = os.path.join(folder, "bin")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    constraints = os.path.join(folder, "constraints.txt")  # The pins; pip's take no extras.
    with open(os.path.join(source, "requirements.txt")) as f, open(constraints, "w") as out:
        out.write(re.sub(r"\[[^]]*\]", "", f.read()))
    command = (
        ["python", "-m", "pip", "install", "-q", "-c", constraints, "-e", source]
        if editable
        else ["sh", os.path.join(source, "deploy", "install"), source, extra]
    )
    install = subprocess.run(
        command, env=env, cwd=folder, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return bin_dir


def run_in(bin_dir: str, *args: str, cwd: str) -> subprocess.CompletedProcess:
    """`args` with the environment's python first on PATH, away from the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


class InstallTest(absltest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="install_test-")
        cls.work = os.path.join(cls.tmp, "work")  # The commands' folder: no checkout in sight.
        data_dir = os.path.join(cls.tmp, "mnist")
        os.makedirs(data_dir)
        os.makedirs(cls.work)
        write_mnist_dir(data_dir, n_train=200, n_test=100)
        config = train_tiny_run(cls.tmp, data_dir=data_dir, train_examples=200, test_examples=100)
        cls.export_dir = os.path.join(cls.tmp, "exports", "dae")
        cls.version = publish_test_version(cls.export_dir, config.workdir)
        cls.x = mnist.preprocess(mnist.load_idx_split(data_dir, "test").images[:8], True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def assert_no_tensorflow(self, bin_dir: str):
        run = run_in(bin_dir, "python", "-c", "import tensorflow", cwd=self.work)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("No module named 'tensorflow'", run.stderr)

    def assert_no_clobbering(self, bin_dir: str):
        """The wheel installs one top-level package: no `export` or `flags` of its own."""
        code = "import sysconfig; print(sysconfig.get_path('purelib'))"
        site = run_in(bin_dir, "python", "-c", code, cwd=self.work).stdout.strip()
        self.assertTrue(os.path.isfile(os.path.join(site, "keras_dae", "flags.py")))
        self.assertTrue(os.path.isdir(os.path.join(site, "keras_dae", "export", "serving")))
        self.assertFalse(os.path.exists(os.path.join(site, "export")))
        self.assertFalse(os.path.exists(os.path.join(site, "flags.py")))
        self.assertNotEqual(site, sysconfig.get_path("purelib"))

    def test_serve_install_runs_the_image_command(self):
        context, extra, command = dockerfile_install()
        self.assertEqual(extra, "serve")
        # The Dockerfile's own RUN line, the context where the image mounts it.
        source = docker_context(os.path.join(self.tmp, context.strip("/").replace("/", "-")))
        self.assertFalse(os.path.exists(os.path.join(source, ".git")))
        bin_dir = fresh_environment(os.path.join(self.tmp, "venv-serve"), source, extra)
        self.assert_no_tensorflow(bin_dir)
        self.assert_no_clobbering(bin_dir)
        # The image's ENTRYPOINT and CMD, /mnt/models being this export; a free port instead.
        args = [a for a in command[1:] if not a.startswith("--port=")]
        args = [a.replace("/mnt/models", self.export_dir) for a in args]
        self.assertIn(f"--export_dir={self.export_dir}", args)
        server = Server(
            args[0].split("=", 1)[1],
            os.path.join(self.tmp, "serve.log"),
            *args[1:],
            command=(os.path.join(bin_dir, command[0]),),
            cwd=self.work,
        )
        try:
            server.wait_ready()
            headers, body = predict(server, {"instances": self.x.tolist()})
        finally:
            status = server.stop()
        self.assertEqual(status, 0, server.log_text()[-2000:])
        self.assertNotIn("Traceback", server.log_text())
        self.assertEqual(headers["X-Model-Version"], str(self.version))
        served = np.asarray(body["predictions"], np.float32)
        self.assertEqual(served.shape, (len(self.x), mnist.PIXELS))
        # The full environment's LiteRT run of the same variant, bit for bit.
        litert = LiteRTModel(layout.tflite_path(self.export_dir, self.version, "int8"))
        np.testing.assert_array_equal(served, litert.run(self.x))

    def test_base_install_infers_and_verifies(self):
        bin_dir = fresh_environment(os.path.join(self.tmp, "venv-base"), ROOT, "")
        self.assert_no_tensorflow(bin_dir)
        self.assert_no_clobbering(bin_dir)
        digit = os.path.join(self.work, "digit.png")
        Image.fromarray(np.uint8(self.x[0].reshape(28, 28) * 255)).save(digit)
        model = layout.tflite_path(self.export_dir, self.version, "int8")
        out = os.path.join(self.work, "out")
        infer = run_in(
            bin_dir, "keras-dae-infer", f"--model={model}", f"--input={digit}",
            f"--output_dir={out}", cwd=self.work,
        )  # fmt: skip
        self.assertEqual(infer.returncode, 0, infer.stderr[-2000:])
        self.assertIn("1 image(s) denoised", infer.stdout)
        self.assertCountEqual(os.listdir(out), ["digit.png", "sheet.png"])
        verify = run_in(
            bin_dir, "python", "-m", "keras_dae.export", "verify", self.export_dir, cwd=self.work
        )
        self.assertEqual(verify.returncode, 0, verify.stderr[-2000:])
        self.assertIn("every file matches its manifest.json", verify.stdout)
        serve = run_in(bin_dir, "keras-dae-serve", f"--export_dir={self.export_dir}", cwd=self.work)
        # [serve] is not installed: one line saying which install the command needs.
        self.assertEqual(serve.returncode, 1)
        self.assertNotIn("Traceback", serve.stderr)
        self.assertRegex(  # The first of [serve]'s modules the server imports.
            serve.stderr,
            r"^keras-dae-serve: error: (kserve|pyvoy|grpc|grpc_interceptor) is not installed: "
            r"this needs pip install 'keras-dae\[serve\]'\n$",
        )
        help_text = run_in(bin_dir, "keras-dae-infer", "--help", cwd=self.work).stdout
        self.assertIn("Edge inference: denoise images", help_text)  # The command's own usage,
        self.assertIn("--corrupt", help_text)  # and its flags, as `python -m` shows them.
        # The server's help without [serve] (before: the missing-install line).
        serve_help = run_in(bin_dir, "keras-dae-serve", "--help", cwd=self.work)
        self.assertNotIn("is not installed", serve_help.stderr)  # (absl's --help exits 1.)
        self.assertIn("Serve exports over TensorFlow Serving's REST", serve_help.stdout)
        self.assertIn("--grpc_server", serve_help.stdout)

    def test_editable_install_runs_from_the_checkout(self):
        bin_dir = fresh_environment(os.path.join(self.tmp, "venv-edit"), ROOT, "", editable=True)
        verify = run_in(bin_dir, "keras-dae-export", "verify", self.export_dir, cwd=self.work)
        self.assertEqual(verify.returncode, 0, verify.stderr[-2000:])
        code = "import keras_dae.export, keras_dae.flags; print(keras_dae.export.__file__)"
        where = run_in(bin_dir, "python", "-c", code, cwd=self.work)
        self.assertEqual(where.stdout.strip(), os.path.join(ROOT, "export", "__init__.py"))


if __name__ == "__main__":
    absltest.main()
