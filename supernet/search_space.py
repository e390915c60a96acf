"""What the search chooses from: the cell DAG, the candidate ops, activations, layer aggregations."""
from dataclasses import dataclass

CANDIDATE_OPS = ("lightgcn", "gcn", "sage", "gat", "skip", "zero")
ACTIVATIONS = ("identity", "relu", "leaky_relu", "elu", "tanh")
AGGREGATIONS = ("mean", "last", "concat", "weighted")


@dataclass(frozen=True)
class SearchSpace:
    """Node 0 is the embedding table; nodes 1..n_nodes each sum a mixed op from every earlier node,
    then apply a (searched) activation; a (searched) aggregation of all nodes gives the output."""
    n_nodes: int = 3
    ops: tuple = CANDIDATE_OPS
    activations: tuple = ACTIVATIONS
    aggregations: tuple = AGGREGATIONS

    def __post_init__(self):
        unknown = [op for op in self.ops if op not in CANDIDATE_OPS]
        if unknown or not [op for op in self.ops if op != "zero"]:
            raise ValueError(f"candidate ops must be a non-empty subset of {', '.join(CANDIDATE_OPS)} "
                             f"with one op besides zero; got {', '.join(self.ops)}")
        if self.n_nodes < 1:
            raise ValueError(f"the cell needs at least one intermediate node, got {self.n_nodes}")

    @property
    def edges(self):
        """(source, target) of every cell edge, grouped by target: (0,1), (0,2), (1,2), (0,3), ..."""
        return [(i, j) for j in range(1, self.n_nodes + 1) for i in range(j)]

    def edge_name(self, edge):
        i, j = self.edges[edge]
        return f"{i}->{j}"
