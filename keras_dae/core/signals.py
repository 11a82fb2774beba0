"""Stopping on SIGINT/SIGTERM anywhere: loading, training, evaluation, figures, the final save.
No TensorFlow here: the handlers are in place before it loads."""

import contextlib
import signal


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException, as KeyboardInterrupt, so that no library's
    `except Exception` swallows it; every file is written atomically: stopping anywhere is safe."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM, as shells report them.


@contextlib.contextmanager
def interrupt_on_signals():
    """While the block runs, SIGINT and SIGTERM raise Interrupted; outside the main thread (a
    notebook's worker) the handlers are left as they are."""

    def interrupt(signum, _frame):
        raise Interrupted(signum)

    handlers = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, interrupt)
    except ValueError:  # Not the main thread.
        pass
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
