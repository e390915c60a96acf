"""Sparse building blocks: CSR construction and per-row (segment) reductions.

torch-scatter and torch-sparse are optional (``pip install recnas[sparse]``), as in PyTorch
Geometric since 2.3: when installed they do this work, otherwise pure torch does, with the same
results (the same entry order; sums equal up to float rounding). ``EXTENSIONS`` says which path
runs; tests switch it to compare the two.
"""
import torch

try:
    import torch_scatter
    import torch_sparse
except ImportError:            # either one missing: the pure-torch path
    torch_scatter = torch_sparse = None

EXTENSIONS = torch_scatter is not None


def sorted_csr(row, col, value, n):
    """Entries of an (n, n) matrix given as COO without duplicates, in CSR order (by row, then
    column): (rowptr, col, value, to_transpose), where ``to_transpose`` orders the entries by
    (column, row), the CSR order of the transpose."""
    if EXTENSIONS:
        adj = torch_sparse.SparseTensor(row=row, col=col, value=value, sparse_sizes=(n, n))
        rowptr, col, value = adj.csr()
        return rowptr, col, value, adj.storage.csr2csc()
    order = torch.argsort(row * n + col)
    row, col, value = row[order], col[order], value[order]
    rowptr = torch.zeros(n + 1, dtype=torch.long)
    torch.cumsum(torch.bincount(row, minlength=n), 0, out=rowptr[1:])
    return rowptr, col, value, torch.argsort(col * n + row)


def segment_sum(values, rowptr):
    """Per row of a CSR pattern, the sum of its entries' ``values`` (E, ...) -> (n, ...)."""
    if EXTENSIONS:
        return torch_scatter.segment_csr(values, rowptr, reduce="sum")
    return torch.segment_reduce(values, "sum", offsets=rowptr, axis=0)


def segment_max(values, rowptr):
    """Per row, the maximum of its entries' ``values``; rows must not be empty."""
    if EXTENSIONS:
        return torch_scatter.segment_csr(values, rowptr, reduce="max")
    return torch.segment_reduce(values, "max", offsets=rowptr, axis=0)


def gather_rows(values, rowptr, row):
    """Each entry gets its row's value: (n, ...) -> (E, ...); ``row`` is the entries' row ids."""
    if EXTENSIONS:
        return torch_scatter.gather_csr(values, rowptr)
    return values.index_select(0, row)
