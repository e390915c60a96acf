"""Atomic writes: a crash (even SIGKILL) mid-write leaves the previous file intact."""
import json
import os
import tempfile
from pathlib import Path

import torch


def _write_atomic(path, write):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
    _write_atomic(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def save_torch(path, obj):
    _write_atomic(path, lambda f: torch.save(obj, f))
