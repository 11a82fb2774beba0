"""The package's structure holds by itself: requirements.txt pins every dependency pyproject.toml
names inside its range, and every TensorFlow-free module imports without loading TensorFlow."""

import os
import subprocess
import sys
import tomllib

from absl.testing import absltest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The modules of the [train] install (TensorFlow, Keras, matplotlib, scikit-learn): keras_dae's
# own top level (training, evaluation) but its commands and notebook glue, the export's
# conversion stage, and the server's SavedModel runtime. Every other module is TensorFlow-free,
# new ones included.
TRAIN_FOLDERS = ("export/convert/", "export/serving/savedmodel_runtime.py")
TENSORFLOW_FREE_AT_TOP = (
    "keras_dae/__init__.py",
    "keras_dae/__main__.py",
    "keras_dae/evaluate.py",
    "keras_dae/notebook.py",
)


def pinned_requirements() -> dict[str, str]:
    """{canonical name: version} of requirements.txt's `name==version` lines."""
    pins = {}
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                requirement = Requirement(line)
                (specifier,) = requirement.specifier
                assert specifier.operator == "==", line
                pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def declared_requirements() -> list[Requirement]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    lines = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    return [Requirement(line) for line in lines]


def python_modules(folder: str) -> list[str]:
    """Every .py file under `folder` of the repository, relative, '/'-separated."""
    found = []
    for parent, dirs, files in os.walk(os.path.join(ROOT, folder)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found += [
            os.path.relpath(os.path.join(parent, n), ROOT).replace(os.sep, "/")
            for n in files
            if n.endswith(".py")
        ]
    return sorted(found)


def needs_tensorflow(path: str) -> bool:
    """Whether the module at `path` belongs to the [train] install."""
    at_top = path.startswith("keras_dae/") and path.count("/") == 1
    return (at_top and path not in TENSORFLOW_FREE_AT_TOP) or path.startswith(TRAIN_FOLDERS)


def import_name(path: str) -> str:
    """keras_dae.export.serving.model for export/serving/model.py (the installed names)."""
    name = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    return name if name.startswith("keras_dae") else f"keras_dae.{name}"


class RequirementsTest(absltest.TestCase):
    def test_every_declared_dependency_is_pinned_inside_its_range(self):
        pins = pinned_requirements()
        for requirement in declared_requirements():
            name = canonicalize_name(requirement.name)
            self.assertIn(name, pins, f"requirements.txt does not pin {requirement}")
            self.assertTrue(
                requirement.specifier.contains(pins[name], prereleases=True),
                f"requirements.txt pins {name}=={pins[name]}, outside pyproject's {requirement}",
            )

    def test_base_and_serve_installs_name_no_tensorflow(self):
        with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
            project = tomllib.load(f)["project"]
        for extra in ("dependencies", "serve"):
            lines = project.get(extra) or project["optional-dependencies"][extra]
            names = {canonicalize_name(Requirement(line).name) for line in lines}
            self.assertEmpty(names & {"tensorflow", "keras", "tensorflow-datasets"}, extra)


class TensorFlowFreeTest(absltest.TestCase):
    def test_every_tensorflow_free_module_imports_without_tensorflow(self):
        modules = [
            import_name(path)
            for folder in ("keras_dae", "export")
            for path in python_modules(folder)
            if not needs_tensorflow(path)
        ] + ["keras_dae.flags"]
        self.assertContainsSubset(
            ["keras_dae.core.mnist", "keras_dae.export.serve", "keras_dae.export.serving.routes"],
            modules,
        )
        code = (
            "import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        self.assertEqual(run.stdout.strip(), "[]")

    def test_the_tensorflow_modules_are_the_ones_the_layout_names(self):
        tensorflow_modules = [
            p for f in ("keras_dae", "export") for p in python_modules(f) if needs_tensorflow(p)
        ]
        self.assertIn("keras_dae/training.py", tensorflow_modules)
        self.assertIn("export/convert/pipeline.py", tensorflow_modules)
        self.assertIn("export/serving/savedmodel_runtime.py", tensorflow_modules)
        self.assertNotIn("keras_dae/core/mnist.py", tensorflow_modules)


if __name__ == "__main__":
    absltest.main()
