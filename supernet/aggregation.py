"""Layer aggregation: how the cell's node states h_0..h_K become one representation."""
import torch
import torch.nn as nn


class LayerAggregation(nn.Module):
    """``mean`` (LightGCN), ``last``, ``concat`` -> linear, or ``weighted`` (learned softmax weights).

    Shapes: list of K+1 tensors (N, d) -> (N, d).
    """

    def __init__(self, kind, n_states, dim):
        super().__init__()
        if kind not in ("mean", "last", "concat", "weighted"):
            raise ValueError(f"unknown aggregation {kind!r}")
        self.kind = kind
        self.linear = nn.Linear(n_states * dim, dim) if kind == "concat" else None
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
            return torch.stack(states).mean(0)
        if self.kind == "last":
            return states[-1]
        if self.kind == "concat":
            return self.linear(torch.cat(states, dim=1))
        weights = torch.softmax(self.logits, 0)
        return sum(w * s for w, s in zip(weights, states))
