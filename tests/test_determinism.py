"""Runs repeat bit for bit on the CPU: the training step's gradients do not depend on how
threads interleave (the backward of ``x[idx]`` on the CPU accumulates repeated rows in a
varying order; the code gathers with ``index_select`` instead)."""
import numpy as np
import torch

from recnas.data.graph import BipartiteGraph
from recnas.ops import make_op
from recnas.models.losses import Loss


def gradients(fn, params, repeat=6):
    """The gradients of ``fn()`` w.r.t. ``params``, computed ``repeat`` times."""
    runs = []
    for _ in range(repeat):
        for p in params:
            p.grad = None
        fn().backward()
        runs.append([p.grad.clone() for p in params])
    return runs


def assert_all_equal(runs):
    for other in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(runs[0], other))


def test_bpr_gradients_repeat_exactly():
    torch.manual_seed(0)
    n_users, n_items, batch = 500, 1500, 8192     # many repeated rows per batch
    reps = torch.randn(n_users + n_items, 64, requires_grad=True)
    emb = torch.randn(n_users + n_items, 64, requires_grad=True)
    users = torch.randint(0, n_users, (batch,))
    pos, neg = torch.randint(0, n_items, (batch,)), torch.randint(0, n_items, (batch,))
    assert_all_equal(gradients(
        lambda: Loss("bpr", 1e-4)(reps, emb, users, pos, neg, n_users)[0], [reps, emb]))


def test_gat_gradients_repeat_exactly():
    rng = np.random.default_rng(0)
    n_users, n_items = 800, 1200
    pairs = np.unique(np.stack([rng.integers(0, n_users, 60000),
                                rng.integers(0, n_items, 60000)], 1), axis=0)
    graph = BipartiteGraph.from_pairs(pairs, n_users, n_items)
    torch.manual_seed(0)
    op = make_op("gat", 64)
    x = torch.randn(n_users + n_items, 64, requires_grad=True)
    upstream = torch.randn(n_users + n_items, 64)
    assert_all_equal(gradients(lambda: (op(x, graph) * upstream).sum(),
                               [x, *op.parameters()]))
