"""The user-item bipartite graph and its normalized adjacencies, built once from training edges.

Node ids: users are 0..n_users-1, items are n_users..n_users+n_items-1 (N nodes in all).
"""
import warnings
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from recnas.data.sparse import sorted_csr

ADJACENCIES = ("sym_adj", "gcn_adj", "mean_adj")


@dataclass
class AttentionPattern:
    """The pattern of A + I in CSR order (row = target i, column = source j), for GAT. The
    pattern is symmetric, so the transpose has the same rowptr / col, its entries in the order
    ``to_transpose``."""
    rowptr: torch.Tensor        # (N + 1,)
    col: torch.Tensor           # (E + N,) source of each entry
    row: torch.Tensor           # (E + N,) target of each entry
    to_transpose: torch.Tensor  # (E + N,)


@dataclass
class BipartiteGraph:
    n_users: int
    n_items: int
    degree: torch.Tensor         # (N,) node degree in A
    csr: dict                    # name -> (torch CSR matrix, its transpose):
    #   sym_adj  D^-1/2 A D^-1/2, no self-loops (LightGCN)
    #   gcn_adj  D~^-1/2 (A + I) D~^-1/2, D~ = D + I (GCN)
    #   mean_adj D^-1 A: row i averages i's neighbours (SAGE, mean aggregator)
    attention: AttentionPattern

    @property
    def n_nodes(self):
        return self.n_users + self.n_items

    @classmethod
    def from_pairs(cls, pairs, n_users, n_items, dtype=torch.float32):
        """``pairs``: (E, 2) array of [user, item] training interactions, without duplicates."""
        pairs = torch.as_tensor(np.asarray(pairs), dtype=torch.long).reshape(-1, 2)
        n = n_users + n_items
        users, items = pairs[:, 0], pairs[:, 1] + n_users
        row, col = torch.cat([users, items]), torch.cat([items, users])
        degree = torch.bincount(row, minlength=n).to(dtype)
        loops = torch.arange(n)

        def inverse(x, power):   # x ** -power, with 0 for isolated nodes instead of inf
            return x.pow(-power).masked_fill(x == 0, 0.0)

        d_sym, d_gcn, d_mean = inverse(degree, 0.5), inverse(degree + 1, 0.5), inverse(degree, 1.0)
        row_loop, col_loop = torch.cat([row, loops]), torch.cat([col, loops])
        csr = {"sym_adj": _csr_pair(row, col, d_sym[row] * d_sym[col], n, symmetric=True),
               "gcn_adj": _csr_pair(row_loop, col_loop, d_gcn[row_loop] * d_gcn[col_loop], n,
                                    symmetric=True),
               "mean_adj": _csr_pair(row, col, d_mean[row], n, symmetric=False)}
        rowptr, source, _, to_transpose = sorted_csr(
            row_loop, col_loop, torch.ones(row_loop.numel(), dtype=dtype), n)
        target = torch.repeat_interleave(torch.arange(n), rowptr.diff())
        return cls(n_users, n_items, degree, csr,
                   AttentionPattern(rowptr, source, target, to_transpose))

    @property
    def attention_index(self):
        """(2, E + N) long tensor [target, source] of A + I, sorted by target."""
        return torch.stack([self.attention.row, self.attention.col])

    def dense(self, name):
        """The adjacency ``name`` (or ``attention`` for the pattern of A + I) as a dense (N, N)
        tensor, for tests and small graphs."""
        if name == "attention":
            a = torch.zeros(self.n_nodes, self.n_nodes, dtype=self.degree.dtype)
            a[self.attention.row, self.attention.col] = 1
            return a
        return self.csr[name][0].to_dense()

    def to(self, device=None, dtype=None):
        """A copy on ``device`` with floating values in ``dtype`` (either may be None)."""
        def move(value):
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype=dtype)
            return value if device is None else value.to(device=device)

        csr = {}
        for name, (matrix, transpose) in self.csr.items():
            moved = move(matrix)
            csr[name] = (moved, moved if transpose is matrix else move(transpose))
        attention = AttentionPattern(*(move(getattr(self.attention, f.name))
                                       for f in fields(AttentionPattern)))
        return replace(self, degree=move(self.degree), csr=csr, attention=attention)


def _csr_pair(row, col, value, n, symmetric):
    """(CSR matrix, its transpose); a symmetric matrix is its own transpose (one tensor)."""
    matrix = csr_tensor(*sorted_csr(row, col, value, n)[:3], n)
    return matrix, matrix if symmetric else csr_tensor(*sorted_csr(col, row, value, n)[:3], n)


def csr_tensor(rowptr, col, value, size):
    """A square torch CSR tensor (without torch's "CSR support is in beta" warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(rowptr, col, value, (size, size))
