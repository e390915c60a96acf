from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from recnas.data.sparse import gather_rows, segment_max, segment_sum
from recnas.runtime.errors import ConfigError
from recnas.runtime.options import option
from recnas.ops.propagation import aggregate_heads


@dataclass
class GATOptions:
    """GAT's own options (flags --gat-heads, --gat-dropout)."""
    gat_heads: int = option(4, "attention heads of gat")
    gat_dropout: float = option(0.0, "dropout on gat's attention weights")


class GATConv(nn.Module):
    """Multi-head graph attention (Veličković et al. 2018) over each node's neighbours and itself.

    Per head h: e_ij = LeakyReLU_0.2(a_src·W_h x_j + a_dst·W_h x_i), alpha_ij = softmax_j(e_ij),
    x'_i = Σ_j alpha_ij W_h x_j; heads are concatenated (width d = heads x d/heads), plus a bias.
    The cell applies the activation. Shapes: x (N, d) -> (N, d).
    """
    name = "gat"
    adjacency = None   # attention values depend on x: nothing to share
    Options = GATOptions

    def __init__(self, dim, heads=4, dropout=0.0, negative_slope=0.2, bias=True):
        super().__init__()
        if dim % heads:
            raise ConfigError(f"gat: width {dim} is not divisible by {heads} heads "
                              "(choose --dim and --gat-heads to fit)")
        self.heads, self.head_dim = heads, dim // heads
        self.dropout, self.negative_slope = dropout, negative_slope
        self.linear = nn.Linear(dim, dim, bias=False)
        self.att_src = nn.Parameter(torch.empty(heads, self.head_dim))
        self.att_dst = nn.Parameter(torch.empty(heads, self.head_dim))
        self.bias = nn.Parameter(torch.empty(dim)) if bias else None
        self.reset_parameters()

    @classmethod
    def from_options(cls, dim, options: GATOptions):
        return cls(dim, options.gat_heads, options.gat_dropout)

    def reset_parameters(self):
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.xavier_uniform_(self.att_src)
        nn.init.xavier_uniform_(self.att_dst)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _scores(self, x, graph):
        """Unnormalized exp(e_ij - max_j e_ij) per entry of A + I (E+N, heads), and W x (N, heads, c)."""
        xw = self.linear(x).view(-1, self.heads, self.head_dim)
        pattern = graph.attention
        rowptr, target = pattern.rowptr, pattern.row
        score_src = (xw * self.att_src).sum(-1)
        score_dst = gather_rows((xw * self.att_dst).sum(-1), rowptr, target)   # by its target
        # index_select: its backward sums in a fixed order (x[idx]'s does not on the CPU)
        scores = F.leaky_relu(score_src.index_select(0, pattern.col) + score_dst,
                              self.negative_slope)
        row_max = segment_max(scores.detach(), rowptr)
        return (scores - gather_rows(row_max, rowptr, target)).exp(), xw

    def attention(self, x, graph):
        """alpha (E+N, heads), in the order of graph.attention's entries; rows sum to 1."""
        weights, _ = self._scores(x, graph)
        pattern = graph.attention
        return weights / gather_rows(segment_sum(weights, pattern.rowptr), pattern.rowptr,
                                     pattern.row)

    def forward(self, x, graph, propagated=None):
        weights, xw = self._scores(x, graph)
        # Normalizing after aggregation moves the softmax division from entries to nodes;
        # dropout on the unnormalized weights then equals dropout on alpha.
        total = segment_sum(weights, graph.attention.rowptr)
        weights = F.dropout(weights, self.dropout, self.training)
        out = aggregate_heads(graph, weights, xw) / total.unsqueeze(-1)
        out = out.reshape(x.shape[0], -1)
        return out if self.bias is None else out + self.bias
