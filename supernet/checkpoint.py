"""Search checkpoints: everything needed to continue exactly where a run stopped."""
from pathlib import Path

import torch

from .files import save_torch

CHECKPOINT = "checkpoint.pt"


def rng_state(samplers):
    state = {"torch": torch.get_rng_state(),
             "samplers": [s.rng.bit_generator.state for s in samplers]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state, samplers):
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for sampler, s in zip(samplers, state["samplers"]):
        sampler.rng.bit_generator.state = s


def save(run_dir, **state):
    """Atomically write the checkpoint (a kill mid-write leaves the previous one)."""
    save_torch(Path(run_dir) / CHECKPOINT, state)


def load(run_dir, device):
    path = Path(run_dir) / CHECKPOINT
    return torch.load(path, map_location=device, weights_only=False) if path.exists() else None
