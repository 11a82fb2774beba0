"""The export's one error type: a message that names the file and the problem."""


class ExportError(RuntimeError):
    """An export or inference input that cannot be used, or a variant that failed its check."""
