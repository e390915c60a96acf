import torch.nn as nn

from recnas.ops.propagation import propagate


class GCNConv(nn.Module):
    """x' = Â x W + b, Â = D~^-1/2 (A + I) D~^-1/2 (Kipf & Welling 2017); activation is the cell's.

    Shapes: x (N, d) -> (N, d).
    """
    name = "gcn"
    adjacency = "gcn_adj"

    def __init__(self, dim, bias=True):
        super().__init__()
        self.linear = nn.Linear(dim, dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.xavier_uniform_(self.linear.weight)
        if self.linear.bias is not None:
            nn.init.zeros_(self.linear.bias)

    def forward(self, x, graph, propagated=None):
        if propagated is None:
            propagated = propagate(graph, self.adjacency, x)
        return self.linear(propagated)
