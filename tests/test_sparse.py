"""The sparse building blocks: the pure-torch path against naive loops, and (when torch-scatter
and torch-sparse are installed) against the extensions, down to a whole run."""
import numpy as np
import pytest
import torch

import recnas.data.sparse as sparse
from recnas.ops.gat import GATOptions
from recnas.data.graph import BipartiteGraph
from recnas.ops import make_op
from recnas.app.config import RunConfig
from recnas.app.jobs import run

from helpers import small_dataset, tiny_pairs

needs_extensions = pytest.mark.skipif(not sparse.EXTENSIONS,
                                      reason="torch-scatter / torch-sparse not installed")


@pytest.fixture
def pure_torch(monkeypatch):
    monkeypatch.setattr(sparse, "EXTENSIONS", False)


def random_pattern(n=9, nnz=30, seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.choice(n * n, nnz, replace=False)
    return torch.from_numpy(keys // n), torch.from_numpy(keys % n), n


def test_pure_sorted_csr_is_csr_order(pure_torch):
    row, col, n = random_pattern()
    value = torch.arange(len(row), dtype=torch.float64)
    rowptr, col_s, value_s, to_t = sparse.sorted_csr(row, col, value, n)
    want = sorted(zip(row.tolist(), col.tolist(), value.tolist()))
    rows = torch.repeat_interleave(torch.arange(n), rowptr.diff())
    assert list(zip(rows.tolist(), col_s.tolist(), value_s.tolist())) == want
    assert [(c, r) for c, r in zip(col_s[to_t].tolist(), rows[to_t].tolist())] == \
        sorted(zip(col.tolist(), row.tolist()))


def test_pure_segment_reductions_match_loops(pure_torch):
    rowptr = torch.tensor([0, 2, 3, 7, 8])
    values = torch.randn(8, 3, dtype=torch.float64)
    row = torch.repeat_interleave(torch.arange(4), rowptr.diff())
    for reduce, fn in (("sum", sparse.segment_sum), ("max", sparse.segment_max)):
        want = torch.stack([getattr(values[a:b], reduce)(0) if reduce == "sum"
                            else values[a:b].max(0).values
                            for a, b in zip(rowptr[:-1], rowptr[1:])])
        torch.testing.assert_close(fn(values, rowptr), want)
    per_row = torch.randn(4, 3)
    assert torch.equal(sparse.gather_rows(per_row, rowptr, row), per_row[row])
    assert torch.autograd.gradcheck(lambda v: sparse.segment_sum(v, rowptr),
                                    (values.requires_grad_(),))


@needs_extensions
def test_extensions_and_pure_torch_agree(monkeypatch):
    row, col, n = random_pattern(n=40, nnz=300)
    value = torch.randn(len(row), dtype=torch.float64)
    rowptr = sparse.sorted_csr(row, col, value, n)[0]
    values = torch.randn(len(row), 4, dtype=torch.float64)
    target = torch.repeat_interleave(torch.arange(n), rowptr.diff())
    per_row = torch.randn(n, 4, dtype=torch.float64)
    calls = lambda: (*sparse.sorted_csr(row, col, value, n), sparse.segment_sum(values, rowptr),
                     sparse.gather_rows(per_row, rowptr, target))
    with_extensions = calls()
    monkeypatch.setattr(sparse, "EXTENSIONS", False)
    for a, b in zip(with_extensions, calls()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@needs_extensions
def test_gat_is_the_same_on_both_paths(monkeypatch):
    torch.manual_seed(0)
    op = make_op("gat", 8, GATOptions(gat_heads=2)).double()
    x = torch.randn(13, 8, dtype=torch.float64, requires_grad=True)

    def forward_backward():
        graph = BipartiteGraph.from_pairs(tiny_pairs(), 7, 6, dtype=torch.float64)
        out = op(x, graph)
        return [out, *torch.autograd.grad(out.pow(2).sum(), [x, *op.parameters()])]

    with_extensions = forward_backward()
    monkeypatch.setattr(sparse, "EXTENSIONS", False)
    for a, b in zip(with_extensions, forward_backward()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@needs_extensions
def test_a_search_scores_the_same_on_both_paths(tmp_path, monkeypatch):
    def search(out):
        return run(RunConfig.from_flat(
            "search", dataset=str(small_dataset(tmp_path / "inter.txt")), out=str(tmp_path / out),
            device="cpu", epochs=2, warmup_epochs=1, dim=8, batch_size=32, nodes=2, gat_heads=2))

    with_extensions = search("extensions")
    monkeypatch.setattr(sparse, "EXTENSIONS", False)
    pure = search("pure")
    for split in ("val", "test"):
        for metric, value in with_extensions[split].items():
            assert pure[split][metric] == pytest.approx(value, abs=1e-4), (split, metric)
    np.testing.assert_allclose(pure["alpha"]["op_weights"], with_extensions["alpha"]["op_weights"],
                               atol=1e-4)
