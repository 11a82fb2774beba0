"""The two runtimes a version is served on: `litert` (ai-edge-litert, the `[serve]` install) and
`savedmodel` (TensorFlow, which only the `[train]` install has)."""

import importlib.util
from collections.abc import Callable

from keras_dae.export.serving import litert_runtime
from keras_dae.export.serving.served import Served, warm_up

RUNTIMES = ("savedmodel", "litert")


def check_installed(runtime: str) -> None:
    """Raises ModuleNotFoundError (one line at the command) when `runtime` needs TensorFlow and
    this install has none: before the workers fork, where it would be each worker's traceback."""
    if runtime == "savedmodel" and importlib.util.find_spec("tensorflow") is None:
        raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")


def loader(
    runtime: str, variant: str, threads: tuple[int, int] = (0, 0)
) -> Callable[[str, int], Served]:
    """`load(export_dir, version) -> Served` of `runtime`, warmed up; `threads` (intra-op,
    inter-op) sizes TensorFlow's thread pools for the SavedModel."""
    if runtime == "savedmodel":
        # TensorFlow is an optional dependency here: the [serve] install has none.
        from keras_dae.export.serving import savedmodel_runtime  # noqa: PLC0415 (optional TensorFlow)

        savedmodel_runtime.set_threads(*threads)
        return lambda export_dir, version: warm_up(
            savedmodel_runtime.load(export_dir, version), export_dir
        )
    return lambda export_dir, version: warm_up(
        litert_runtime.load(export_dir, version, variant), export_dir
    )
