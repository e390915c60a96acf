"""Small inputs shared by the tests."""
import numpy as np
import torch

from recnas.data.graph import BipartiteGraph

N_USERS, N_ITEMS = 7, 6


def tiny_pairs(seed=0):
    """Random (user, item) pairs of a 7 x 6 graph whose last user has no edge."""
    rng = np.random.default_rng(seed)
    r = rng.random((N_USERS, N_ITEMS)) < 0.45
    r[-1, :] = False
    return np.argwhere(r)


def tiny_graph(seed=0):
    return BipartiteGraph.from_pairs(tiny_pairs(seed), N_USERS, N_ITEMS, dtype=torch.float64)


def small_dataset(path, n_users=40, n_items=30, seed=0):
    """An interactions file of 6..13 random items per user, ids 'u0', 'i0', ..."""
    rng = np.random.default_rng(seed)
    lines = [f"u{u} i{i}" for u in range(n_users)
             for i in rng.choice(n_items, size=rng.integers(6, 14), replace=False)]
    path.write_text("\n".join(lines) + "\n")
    return path


def poison_loss(monkeypatch, after):
    """Make every training loss (whichever --loss) NaN from its call number ``after()`` + 1 on;
    returns the dict whose "n" counts the calls."""
    from recnas.models.losses import Loss
    real, calls = Loss.__call__, {"n": 0}

    def poisoned(self, *args):
        calls["n"] += 1
        factor = float("nan") if calls["n"] > after() else 1.0
        return tuple(x * factor for x in real(self, *args))

    monkeypatch.setattr(Loss, "__call__", poisoned)
    return calls


class Killed(Exception):
    """Stands for a kill of the process right after a checkpoint was written."""


def kill_after_save(monkeypatch, when):
    """Make checkpoint writes (runtime.checkpoint.save, which every job calls) raise Killed
    right after the first write whose state satisfies ``when(state)``; returns a function that
    restores the real writes. ``monkeypatch``: pytest's fixture, or a pytest.MonkeyPatch()."""
    from recnas.runtime import checkpoint
    real_save = checkpoint.save

    def save_then_die(run_dir, kind, **state):
        real_save(run_dir, kind, **state)
        if when(state):
            raise Killed

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    return lambda: monkeypatch.setattr(checkpoint, "save", real_save)
