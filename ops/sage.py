import torch.nn as nn

from recnas.ops.propagation import propagate


class SAGEConv(nn.Module):
    """x' = W_root x + W_neigh mean_{j in N(i)} x_j + b (Hamilton et al. 2017, mean aggregator).

    Shapes: x (N, d) -> (N, d). Isolated nodes aggregate zeros.
    """
    name = "sage"
    adjacency = "mean_adj"

    def __init__(self, dim, bias=True):
        super().__init__()
        self.root = nn.Linear(dim, dim, bias=False)
        self.neighbours = nn.Linear(dim, dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.xavier_uniform_(self.root.weight)
        nn.init.xavier_uniform_(self.neighbours.weight)
        if self.neighbours.bias is not None:
            nn.init.zeros_(self.neighbours.bias)

    def forward(self, x, graph, propagated=None):
        if propagated is None:
            propagated = propagate(graph, self.adjacency, x)
        return self.root(x) + self.neighbours(propagated)
