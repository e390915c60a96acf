"""The user-item bipartite graph and its normalized adjacencies, built once from training edges.

Node ids: users are 0..n_users-1, items are n_users..n_users+n_items-1 (N nodes in all).
"""
import warnings
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch_sparse import SparseTensor


@dataclass
class BipartiteGraph:
    n_users: int
    n_items: int
    sym_adj: SparseTensor        # D^-1/2 A D^-1/2, no self-loops (LightGCN)
    gcn_adj: SparseTensor        # D~^-1/2 (A + I) D~^-1/2, D~ = D + I (GCN)
    mean_adj: SparseTensor       # D^-1 A: row i averages i's neighbours (SAGE, mean aggregator)
    attention_adj: SparseTensor  # pattern of A + I (values 1); row = target i, col = source j (GAT)
    degree: torch.Tensor         # (N,) node degree in A
    csr: dict                    # adjacency name -> (torch CSR matrix, its transpose), for kernels

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
            out = x.pow(-power)
            return out.masked_fill(x == 0, 0.0)

        d_sym = inverse(degree, 0.5)
        d_gcn = inverse(degree + 1, 0.5)
        d_mean = inverse(degree, 1.0)
        row_loop, col_loop = torch.cat([row, loops]), torch.cat([col, loops])

        def sparse(r, c, value):
            adj = SparseTensor(row=r, col=c, value=value, sparse_sizes=(n, n))
            return adj.fill_cache_()   # transposes for backward are built once, here

        adjacencies = {
            "sym_adj": sparse(row, col, d_sym[row] * d_sym[col]),
            "gcn_adj": sparse(row_loop, col_loop, d_gcn[row_loop] * d_gcn[col_loop]),
            "mean_adj": sparse(row, col, d_mean[row]),
        }
        csr = {}
        for name, adj in adjacencies.items():
            matrix = _to_csr(adj)
            csr[name] = (matrix, _to_csr(adj.t()) if name == "mean_adj" else matrix)
        return cls(n_users, n_items, **adjacencies,
                   attention_adj=sparse(row_loop, col_loop,
                                        torch.ones(row_loop.numel(), dtype=dtype)),
                   degree=degree, csr=csr)

    @property
    def attention_index(self):
        """(2, E + N) long tensor [target, source] of A + I, sorted by target."""
        row, col, _ = self.attention_adj.coo()
        return torch.stack([row, col])

    def to(self, device=None, dtype=None):
        """A copy on ``device`` with floating values in ``dtype`` (either may be None)."""
        def move(value):
            if isinstance(value, (SparseTensor, torch.Tensor)):
                if dtype is not None:
                    value = value.to(dtype=dtype)
                if device is not None:
                    value = value.to(device=device)
            return value

        moved = {f.name: move(getattr(self, f.name)) for f in fields(self) if f.name != "csr"}
        csr = {}
        for name, (matrix, transpose) in self.csr.items():
            moved_matrix = move(matrix)
            csr[name] = (moved_matrix, moved_matrix if transpose is matrix else move(transpose))
        return BipartiteGraph(**moved, csr=csr)


def csr_tensor(rowptr, col, value, size):
    """A square torch CSR tensor (without torch's "CSR support is in beta" warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(rowptr, col, value, (size, size))


def _to_csr(adj: SparseTensor):
    rowptr, col, value = adj.csr()
    return csr_tensor(rowptr, col, value, adj.sparse_size(0))
