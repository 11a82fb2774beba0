"""keras-dae's errors: every user-facing one derives from `KerasDaeError`, whose message names the
file and the problem; each command catches it once (`one_line_errors`) and exits with that line."""

import contextlib
import sys


class KerasDaeError(Exception):
    """A problem the user can act on; `str()` is the one line a command prints."""


class ConfigError(KerasDaeError, ValueError):
    """A configuration value that cannot be trained with."""


class DataError(KerasDaeError, ValueError):
    """Input data that cannot be used; the message names the file and the problem."""


class RunError(KerasDaeError, RuntimeError):
    """A run that cannot start or go on, or a run folder that cannot be read; the message says
    why and what to do."""


class FolderLocked(KerasDaeError, RuntimeError):
    """Another process holds the folder; the message names the folder and its pid."""


class ExportError(KerasDaeError, RuntimeError):
    """An export or inference input that cannot be used, or a variant that failed its check."""


def describe(error: OSError) -> str:
    """An OSError as one line: the file, then the problem (e.g. No space left on device)."""
    if error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


# The install that brings each optional top-level module (pyproject.toml's extras).
EXTRAS = {
    "tensorflow": "train",
    "keras": "train",
    "tensorflow_datasets": "train",
    "matplotlib": "train",
    "sklearn": "train",
    "tflite_micro": "train",
    "kserve": "serve",
    "pyvoy": "serve",
    "grpc": "serve",
    "grpc_interceptor": "serve",
}


def missing_extra(error: ModuleNotFoundError) -> str:
    """What to install for a module that only an extra brings (`error` re-raised for another)."""
    top = (error.name or "").split(".")[0]
    if top not in EXTRAS:
        raise error
    return f"{top} is not installed: this needs pip install 'keras-dae[{EXTRAS[top]}]'"


@contextlib.contextmanager
def one_line_errors(prog: str):
    """Runs a command's body: a KerasDaeError, an OSError or a module of an extra that is not
    installed ends it with `prog: error: <line>` on stderr and exit status 1, never a traceback."""
    try:
        yield
    except KerasDaeError as e:
        sys.exit(f"{prog}: error: {e}")
    except OSError as e:
        sys.exit(f"{prog}: error: {describe(e)}")
    except ModuleNotFoundError as e:
        sys.exit(f"{prog}: error: {missing_extra(e)}")
