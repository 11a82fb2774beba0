"""The child process of export_faults_test: publishes the files of PREPARED (saved_model/ and
record/) as the next version of EXPORT_DIR the way `export_model` does (lock, leftovers, staging,
publish; the TensorFlow conversions replaced by durable copies), and exits with os._exit(1) at the
KILL_AT-th call of a durable boundary: mkdir, rename, replace, fsync, unlink, remove, rmdir.

    python -m tests.export_fault_child PREPARED EXPORT_DIR KILL_AT   (from the repository root)
KILL_AT 0 kills nowhere; the child then prints the count of boundaries passed once the leftovers
were cleared, and in all.
"""

import os
import sys

from keras_dae.core import durable, locking
from keras_dae.export import publish

BOUNDARIES = ("mkdir", "rename", "replace", "fsync", "unlink", "remove", "rmdir")


def read_tree(folder: str) -> dict[str, bytes]:
    files = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(parent, name), "rb") as f:
                files[os.path.relpath(os.path.join(parent, name), folder)] = f.read()
    return files


def install_faults(kill_at: int) -> list[int]:
    """Wraps each boundary of `os`: the kill_at-th call (counting all of them) exits at once."""
    calls = [0]

    def counted(real):
        def boundary(*args, **kwargs):
            calls[0] += 1
            if calls[0] == kill_at:
                os._exit(1)
            return real(*args, **kwargs)

        return boundary

    for name in BOUNDARIES:
        setattr(os, name, counted(getattr(os, name)))
    return calls


def publish_prepared(trees: dict, export_dir: str, calls: list[int]) -> int:
    """Publishes `trees` ({"saved_model"|"record": {path: bytes}}) as export_model publishes;
    returns the count of boundaries passed once the leftovers were cleared."""
    with locking.exclusive(export_dir, "export"):
        publish.clear_leftovers(export_dir)
        cleared = calls[0]
        staging = publish.stage(export_dir)
        try:
            for part, folder in (("saved_model", staging.saved_model), ("record", staging.record)):
                for name, data in trees[part].items():
                    durable.write_bytes(os.path.join(folder, name), data)
            publish.publish(export_dir, staging)
        finally:
            publish.discard(staging)
    return cleared


def main(prepared: str, export_dir: str, kill_at: int) -> None:
    trees = {part: read_tree(os.path.join(prepared, part)) for part in ("saved_model", "record")}
    calls = install_faults(kill_at)
    cleared = publish_prepared(trees, export_dir, calls)
    print(cleared, calls[0])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
