import numpy as np
import pytest
import torch

from recnas.data.sampler import BPRSampler


@pytest.mark.parametrize("bitmap_max_bytes", [1 << 30, 0])   # bitmap, sorted keys
def test_negatives_are_never_positives_and_epoch_covers_every_pair(bitmap_max_bytes):
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 12
    pairs = np.argwhere(rng.random((n_users, n_items)) < 0.7)   # dense: many rejections
    pairs = pairs[pairs[:, 0] != 0]
    pairs = np.concatenate([pairs, [[0, i] for i in range(n_items)]])  # user 0 has every item
    sampler = BPRSampler(pairs, n_users, n_items, seed=1, bitmap_max_bytes=bitmap_max_bytes)
    positives = {tuple(p) for p in pairs}
    for _ in range(3):
        users, pos, neg = sampler.epoch_triples()
        assert len(users) == len(pairs) - n_items    # user 0 has no negative: left out
        assert all((u, n) not in positives for u, n in zip(users, neg))
        assert sorted(zip(users, pos)) == sorted(p for p in positives if p[0] != 0)


def test_seeded_and_batched():
    pairs = np.array([[0, 1], [0, 2], [1, 0], [2, 3], [2, 1]])
    a, b = BPRSampler(pairs, 3, 5, seed=7), BPRSampler(pairs, 3, 5, seed=7)
    for x, y in zip(a.epoch_triples(), b.epoch_triples()):
        np.testing.assert_array_equal(x, y)
    batches = list(a.batches(2))
    assert [(len(b.users), b.rows) for b in batches] == [(2, 2), (2, 2), (1, 1)]


def test_excluded_pairs_are_never_negatives():
    val = np.array([[0, 0], [1, 1]])
    train = np.array([[0, 1], [0, 2], [1, 0], [1, 2]])
    sampler = BPRSampler(val, 2, 4, seed=0, exclude=train)
    for _ in range(20):
        users, pos, neg = sampler.epoch_triples()
        assert list(neg) == [3, 3] or all(n == 3 for n in neg)


@pytest.mark.parametrize("shared_negatives", [0, 3])
def test_the_shards_of_n_processes_are_one_process_batches_of_n_times_the_size(shared_negatives):
    rng = np.random.default_rng(0)
    pairs = np.unique(np.stack([rng.integers(0, 20, 150), rng.integers(0, 30, 150)], 1), axis=0)
    one = list(BPRSampler(pairs, 20, 30, seed=3).batches(12, shared_negatives=shared_negatives))
    shards = [list(BPRSampler(pairs, 20, 30, seed=3).batches(4, shared_negatives=shared_negatives,
                                                            shard=(r, 3))) for r in range(3)]
    assert len(pairs) % 12 and all(len(s) == len(one) for s in shards)   # a short last batch
    for b, whole in enumerate(one):
        parts = [s[b] for s in shards]
        assert all(p.rows == len(whole.users) for p in parts)
        assert abs(len(parts[0].users) - len(parts[-1].users)) <= 1
        for field in ("users", "positives") + (() if shared_negatives else ("negatives",)):
            assert torch.equal(torch.cat([getattr(p, field) for p in parts]),
                               getattr(whole, field))
        if shared_negatives:
            assert all(torch.equal(p.negatives, whole.negatives) for p in parts)
