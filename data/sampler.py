"""Vectorized training batches: (user, positive item) pairs with uniform negative items, one
per pair (BPR) or a set shared by each batch (sampled softmax, CCL)."""
from typing import NamedTuple

import numpy as np
import torch


class Batch(NamedTuple):
    """This process's rows of a training batch (all of it in a single process)."""
    users: torch.Tensor         # (B,)
    positives: torch.Tensor     # (B,)
    negatives: torch.Tensor     # (B,) one per row, or (M,) shared by the batch
    rows: int                   # the batch's rows over all processes (B in a single process)


class BPRSampler:
    """One epoch = every training pair once, in random order, each with a uniform negative that
    is never one of that user's training positives (LightGCN's epoch size).

    Users who interacted with every item have no negative and are left out. The random state is
    ``self.rng`` (a numpy Generator); checkpoints save ``rng.bit_generator.state``.

    Membership of (user, item) in the positives is a bit lookup in a users x items bitmap when
    that fits in ``bitmap_max_bytes`` (Gowalla: 153 MB), else a binary search in sorted keys.
    """

    def __init__(self, pairs, n_users, n_items, seed=0, exclude=None, bitmap_max_bytes=1 << 30):
        """``exclude``: more (user, item) pairs never drawn as negatives (e.g. training pairs when
        ``pairs`` are validation pairs). ``seed``: an int or a sequence of ints."""
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        self.n_items = n_items
        blocked = pairs if exclude is None else np.concatenate(
            [pairs, np.asarray(exclude, dtype=np.int64).reshape(-1, 2)])
        keys = np.unique(blocked[:, 0] * n_items + blocked[:, 1])
        if (n_users * n_items + 7) // 8 <= bitmap_max_bytes:
            self.bitmap = np.zeros((n_users * n_items + 7) // 8, dtype=np.uint8)
            np.bitwise_or.at(self.bitmap, keys >> 3, (1 << (keys & 7)).astype(np.uint8))
            self.sorted_keys = None
        else:
            self.bitmap = None
            self.sorted_keys = torch.from_numpy(keys)
        degree = np.bincount(keys // n_items, minlength=n_users)
        keep = degree[pairs[:, 0]] < n_items
        self.users, self.items = pairs[keep, 0].copy(), pairs[keep, 1].copy()
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.users)

    def is_positive(self, users, items):
        keys = users * self.n_items + items
        if self.bitmap is not None:
            return ((self.bitmap[keys >> 3] >> (keys & 7).astype(np.uint8)) & 1).astype(bool)
        if not len(self.sorted_keys):
            return np.zeros(keys.shape, dtype=bool)
        keys = torch.from_numpy(keys)
        found = torch.searchsorted(self.sorted_keys, keys).clamp_max(len(self.sorted_keys) - 1)
        return (self.sorted_keys[found] == keys).numpy()

    def sample_negatives(self, users):
        """A uniform non-positive item for each user (rejection sampling, vectorized)."""
        negatives = self.rng.integers(0, self.n_items, size=len(users))
        redo = np.flatnonzero(self.is_positive(users, negatives))
        while redo.size:
            negatives[redo] = self.rng.integers(0, self.n_items, size=redo.size)
            redo = redo[self.is_positive(users[redo], negatives[redo])]
        return negatives

    def epoch_triples(self):
        """(users, positives, negatives): three int64 arrays of len(self) in shuffled order."""
        order = self.rng.permutation(len(self))
        users, positives = self.users[order], self.items[order]
        return users, positives, self.sample_negatives(users)

    def batches(self, batch_size, device=None, shared_negatives=0, shard=(0, 1)):
        """Yield one epoch as Batch(users, positives, negatives, rows) of long tensors: up to
        batch_size rows, each with its own negative; or, with ``shared_negatives`` M > 0,
        ``negatives`` is M uniform items shared by the batch's rows (sampled-softmax style
        losses score every row against all of them; a row's own positive among them is masked
        by the loss).

        ``shard`` (rank r, processes n): the epoch is cut into batches of n × batch_size rows
        and this yields the r-th of n near-equal parts of each; every process draws the same
        epoch (same random state), so together they train one process's batches of n ×
        batch_size."""
        rank, processes = shard
        global_size = batch_size * processes
        if shared_negatives:
            order = self.rng.permutation(len(self))
            n_batches = -(-len(self) // global_size)
            shared = torch.from_numpy(self.rng.integers(0, self.n_items,
                                                        size=(n_batches, shared_negatives)))
            pairs = torch.from_numpy(np.stack([self.users[order], self.items[order]]))
        else:
            pairs = torch.from_numpy(np.stack(self.epoch_triples()))
        if device is not None:
            pairs = pairs.to(device)
            shared = shared.to(device) if shared_negatives else None
        for b, start in enumerate(range(0, pairs.shape[1], global_size)):
            rows = pairs[:, start:start + global_size]
            n = rows.shape[1]
            part = rows[:, rank * n // processes:(rank + 1) * n // processes]
            yield Batch(part[0], part[1], shared[b] if shared_negatives else part[2], n)
