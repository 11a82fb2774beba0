"""One writer per folder: an exclusive OS lock (flock) on `<folder>/.lock`, held for the whole
command. The kernel drops it when its process dies, so a killed run never blocks the next."""

import contextlib
import fcntl
import os

from keras_dae.core.errors import FolderLocked

LOCK_FILE = ".lock"


@contextlib.contextmanager
def exclusive(folder: str, what: str):
    """Holds `folder`'s lock while the block runs; raises FolderLocked at once if another
    process holds it. `what` names the holder's kind in the message ("run", "export")."""
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise FolderLocked(
                f"{folder}: in use by another {what} (pid {holder}); wait for it "
                "to end, or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # Releases the lock; the file stays (removing it would race the next run).
