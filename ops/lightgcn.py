import torch.nn as nn

from recnas.ops.propagation import propagate


class LightGCNConv(nn.Module):
    """x' = D^-1/2 A D^-1/2 x: no self-loops, no weights, no activation (He et al. 2020).

    Shapes: x (N, d) -> (N, d).
    """
    name = "lightgcn"
    adjacency = "sym_adj"

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def reset_parameters(self):
        pass

    def forward(self, x, graph, propagated=None):
        return propagate(graph, self.adjacency, x) if propagated is None else propagated
