"""Layer aggregation: how the cell's node states h_0..h_K become one representation."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from recnas.ops.weighted_sum import mix

AGGREGATIONS = ("mean", "last", "concat", "weighted")


class LayerAggregation(nn.Module):
    """``mean`` (LightGCN), ``last``, ``concat`` -> linear, or ``weighted`` (learned softmax weights).

    Shapes: list of K+1 tensors (N, d) -> (N, d).
    """

    def __init__(self, kind, n_states, dim):
        super().__init__()
        if kind not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {kind!r}")
        self.kind = kind
        self.linear = nn.Linear(n_states * dim, dim) if kind == "concat" else None
        self.n_states, self.dim = n_states, dim
        self.logits = nn.Parameter(torch.zeros(n_states)) if kind == "weighted" else None
        self.reset_parameters()

    def reset_parameters(self):
        if self.linear is not None:
            nn.init.xavier_uniform_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)
        if self.logits is not None:
            nn.init.zeros_(self.logits)

    def forward(self, states):
        if self.kind == "mean":
            return mix(states[0].new_full((len(states),), 1 / len(states)), states)
        if self.kind == "last":
            return states[-1]
        if self.kind == "concat":   # linear(cat(states)) as a sum of per-state products, no cat
            weight = self.linear.weight
            out = F.linear(states[0], weight[:, :self.dim], self.linear.bias)
            for k in range(1, len(states)):
                out = out + states[k] @ weight[:, k * self.dim:(k + 1) * self.dim].t()
            return out
        return mix(torch.softmax(self.logits, 0), states)
