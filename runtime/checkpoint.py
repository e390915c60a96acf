"""Checkpoints: everything a run needs to continue exactly where it stopped.

One file per run directory, ``checkpoint.pt``, written atomically. It carries its ``kind``
(``search``, ``retrain`` or ``random_search``: which job wrote it) and the format ``version``,
and a reader that meets another kind or version says so in one line.
"""
from pathlib import Path

import torch

from recnas.runtime import distributed
from recnas.runtime.errors import UserError
from recnas.runtime.files import save_torch

CHECKPOINT = "checkpoint.pt"
VERSION = 1
KINDS = {"search": "a supernet search (train.py)",
         "retrain": "a retraining (train.py --genotype)",
         "random_search": "a random search (train.py --strategy random)"}


class CheckpointError(UserError):
    pass


def save(run_dir, kind, **state):
    """Atomically write RUN_DIR/checkpoint.pt (a kill mid-write leaves the previous one)."""
    assert kind in KINDS, kind
    save_torch(Path(run_dir) / CHECKPOINT, {"kind": kind, "version": VERSION,
                                            "processes": distributed.world_size(), **state})


def load(run_dir, kind, device="cpu", fingerprint=None, resuming=False):
    """RUN_DIR's checkpoint of ``kind`` (None when there is none). A checkpoint of another kind
    or version, or (when ``fingerprint`` is given) of other data, or (when ``resuming`` its
    training) of another number of processes, is a CheckpointError."""
    path = Path(run_dir) / CHECKPOINT
    state = _read(path, device)
    if state is None:
        return None
    found = state.get("kind")
    if found not in KINDS or state.get("version") is None:
        raise CheckpointError(f"{path}: written by an older recnas (no kind or version); "
                              "start a new run")
    if found != kind:
        raise CheckpointError(f"{path}: the checkpoint of {KINDS[found]}, expected one of "
                              f"{KINDS[kind]}")
    if state["version"] != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state['version']}; this recnas reads "
                              f"version {VERSION}")
    processes = state.get("processes", 1)
    if resuming and processes != distributed.world_size():
        raise CheckpointError(f"{path}: written by a run of {processes} process(es), resumed "
                              f"with {distributed.world_size()}; resume with {processes} (python "
                              "train.py for 1, torchrun --nproc_per_node N for N): a step's "
                              "batch is processes × --batch-size")
    saved = state.get("dataset", {}).get("fingerprint")
    if fingerprint is not None and saved != fingerprint:
        raise CheckpointError(f"{path}: the run started on other data (fingerprint "
                              f"{str(saved)[:12]}, now {fingerprint[:12]}): the dataset files, "
                              "--seed or a split fraction changed; start a new run")
    return state


def _read(path, device):
    if not path.exists():
        return None
    return torch.load(path, map_location=device, weights_only=False)


def rng_state(samplers):
    """The torch (and this process's CUDA device's) random states and each sampler's numpy
    generator state. Under several processes every process has the same states (same seeds,
    same draws), so process 0's checkpoint resumes them all."""
    state = {"torch": torch.get_rng_state(),
             "samplers": [s.rng.bit_generator.state for s in samplers]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng(state, samplers):
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if isinstance(cuda, list):                   # written before: one state per device
            torch.cuda.set_rng_state_all(cuda)
        else:
            torch.cuda.set_rng_state(cuda)
    for sampler, s in zip(samplers, state["samplers"]):
        sampler.rng.bit_generator.state = s
