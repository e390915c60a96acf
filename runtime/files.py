"""Atomic writes: a crash (even SIGKILL) mid-write leaves the previous file intact.

Files are created with the permissions of an ordinary ``open`` (0666 less the umask), not the
0600 of a temporary file, so a run directory reads like any other.

Under several processes (runtime.distributed) process 0 alone writes, and every process waits
at the write until it is done, so what one process wrote, every process can read."""
import json
import os
import tempfile
from pathlib import Path

import torch

from recnas.runtime import distributed


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_atomic(path, write):
    distributed.barrier()               # every process has read what the file held before
    if distributed.is_main():
        _write_file(Path(path), write)
    distributed.barrier()


def _write_file(path, write):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text):
    _write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2) + "\n")


def save_torch(path, obj):
    _write_atomic(path, lambda f: torch.save(obj, f))
