"""The graph's matrices against dense formulas written out here."""
import numpy as np
import torch

from recnas.data.graph import BipartiteGraph


def random_graph(n_users=7, n_items=6, density=0.4, seed=0):
    rng = np.random.default_rng(seed)
    r = rng.random((n_users, n_items)) < density
    r[-1, :] = False          # an isolated user
    r[:, -1] = False          # an isolated item
    pairs = np.argwhere(r)
    return pairs, r.astype(np.float64)


def dense_adjacency(r):
    n_users, n_items = r.shape
    a = np.zeros((n_users + n_items,) * 2)
    a[:n_users, n_users:] = r
    a[n_users:, :n_users] = r.T
    return a


def inv(x, p):
    out = np.zeros_like(x)
    out[x > 0] = x[x > 0] ** -p
    return out


def test_matrices_equal_dense_formulas():
    pairs, r = random_graph()
    g = BipartiteGraph.from_pairs(pairs, *r.shape, dtype=torch.float64)
    a = dense_adjacency(r)
    d = a.sum(1)
    eye = np.eye(len(a))
    expected = {
        "sym_adj": np.diag(inv(d, 0.5)) @ a @ np.diag(inv(d, 0.5)),
        "gcn_adj": np.diag((d + 1) ** -0.5) @ (a + eye) @ np.diag((d + 1) ** -0.5),
        "mean_adj": np.diag(inv(d, 1.0)) @ a,
        "attention": a + eye,
    }
    for name, want in expected.items():
        got = g.dense(name).numpy()
        np.testing.assert_allclose(got, want, atol=1e-12, err_msg=name)
        assert np.isfinite(got).all()
    np.testing.assert_array_equal(g.degree.numpy(), d)
    # mean rows sum to 1, except the isolated nodes' rows, which are zero
    rows = g.dense("mean_adj").sum(1).numpy()
    np.testing.assert_allclose(rows, (d > 0).astype(float))
    target, source = g.attention_index
    assert torch.all(target[1:] >= target[:-1])
    assert len(target) == 2 * len(pairs) + g.n_nodes
    for name in ("sym_adj", "gcn_adj", "mean_adj"):     # the cached transposes are transposes
        matrix, transpose = g.csr[name]
        torch.testing.assert_close(transpose.to_dense(), matrix.to_dense().t())
    transposed = (source * g.n_nodes + target)[g.attention.to_transpose]
    assert torch.all(transposed[1:] > transposed[:-1])  # the transpose's CSR order


def test_to_moves_dtype():
    pairs, r = random_graph()
    g = BipartiteGraph.from_pairs(pairs, *r.shape).to("cpu", torch.float64)
    assert g.csr["sym_adj"][0].dtype == torch.float64 and g.degree.dtype == torch.float64
    assert g.attention.rowptr.dtype == torch.long
    assert g.n_users == r.shape[0]
