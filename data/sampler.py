"""Vectorized BPR triples (user, positive item, negative item) with uniform negatives."""
import numpy as np
import torch


class BPRSampler:
    """One epoch = every training pair once, in random order, each with a uniform negative that
    is never one of that user's training positives (LightGCN's epoch size).

    Users who interacted with every item have no negative and are left out. The random state is
    ``self.rng`` (a numpy Generator); checkpoints save ``rng.bit_generator.state``.
    """

    def __init__(self, pairs, n_users, n_items, seed=0):
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        self.n_items = n_items
        self.positive_keys = np.unique(pairs[:, 0] * n_items + pairs[:, 1])  # sorted
        degree = np.bincount(pairs[:, 0], minlength=n_users)
        self.pairs = pairs[degree[pairs[:, 0]] < n_items]
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.pairs)

    def is_positive(self, users, items):
        keys = users * self.n_items + items
        if not self.positive_keys.size:
            return np.zeros(keys.shape, dtype=bool)
        found = np.searchsorted(self.positive_keys, keys)
        found = np.minimum(found, len(self.positive_keys) - 1)
        return self.positive_keys[found] == keys

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
        shuffled = self.pairs[self.rng.permutation(len(self.pairs))]
        users, positives = shuffled[:, 0], shuffled[:, 1]
        return users, positives, self.sample_negatives(users)

    def batches(self, batch_size, device=None):
        """Yield one epoch as (users, positives, negatives) long tensors of up to batch_size rows."""
        triples = torch.from_numpy(np.stack(self.epoch_triples()))
        if device is not None:
            triples = triples.to(device)
        for start in range(0, triples.shape[1], batch_size):
            users, positives, negatives = triples[:, start:start + batch_size]
            yield users, positives, negatives
