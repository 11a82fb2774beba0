"""keras-dae in a notebook: whether the code runs in an IPython kernel, and what `train` shows
there: the run's figures inline, and no TensorFlow start-up lines in the cell. Nothing here
imports IPython or TensorFlow; outside a kernel nothing changes."""

import contextlib
import importlib
import os
import sys

from keras_dae.core import rundir


def in_notebook() -> bool:
    """Whether this process is an IPython kernel (Jupyter, VS Code, Colab), not a terminal's
    IPython or plain Python: its shell has a `kernel`. IPython is not imported to find out."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


@contextlib.contextmanager
def quiet_stderr():
    """File descriptor 2 to /dev/null for the block: a kernel forwards it to the cell, and
    TensorFlow's C++ start-up lines (CUDA probes, CPU features) come before its log level
    applies. Python's own sys.stderr, and so exceptions, are untouched."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_training():
    """keras_dae.training; in a kernel that has not loaded TensorFlow yet, loaded with its
    start-up lines (and XLA's INFO lines at the first compile) kept out of the cell."""
    if not in_notebook() or "tensorflow" in sys.modules:
        return importlib.import_module("keras_dae.training")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # Read once, as TensorFlow loads.
    with quiet_stderr():
        training = importlib.import_module("keras_dae.training")
        training.tf.config.list_physical_devices()  # The device probe logs too (cuInit).
    return training


def show_run(workdir: str) -> None:
    """Displays the run's final figures inline (keras_dae.core.rundir.final_figures), each one
    PNG output, whatever matplotlib backend the notebook uses."""
    from IPython.display import Image, display  # noqa: PLC0415 (only in a kernel)

    for path in rundir.final_figures(workdir):
        display(Image(filename=path))
