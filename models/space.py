"""What the search chooses from: the cell DAG, the candidate ops, activations, layer aggregations."""
from dataclasses import dataclass

from recnas.ops import ACTIVATIONS, AGGREGATIONS, CANDIDATES, NO_EDGE
from recnas.runtime.errors import ConfigError


@dataclass(frozen=True)
class SearchSpace:
    """Node 0 is the embedding table; nodes 1..n_nodes each sum a mixed op from every earlier node,
    then apply a (searched) activation; a (searched) aggregation of all nodes gives the output."""
    n_nodes: int = 3
    ops: tuple = CANDIDATES
    activations: tuple = tuple(ACTIVATIONS)
    aggregations: tuple = AGGREGATIONS

    def __post_init__(self):
        unknown = [op for op in self.ops if op not in CANDIDATES]
        if unknown or not self.computed_ops or len(set(self.ops)) != len(self.ops):
            raise ConfigError(f"candidate ops must be distinct names of {', '.join(CANDIDATES)} "
                              f"with one op besides {NO_EDGE}; got {', '.join(self.ops)}")
        if self.n_nodes < 1:
            raise ConfigError(f"the cell needs at least one intermediate node, got {self.n_nodes}")

    @property
    def computed_ops(self):
        """The candidates that compute something: all but ``zero`` (no edge), which only weighs
        in α. Derived, sampled and retrained architectures use these alone."""
        return tuple(op for op in self.ops if op != NO_EDGE)

    @property
    def computed_op_indices(self):
        """Positions in ``ops`` of the computed ops."""
        return [o for o, name in enumerate(self.ops) if name in self.computed_ops]

    @property
    def edges(self):
        """(source, target) of every cell edge, grouped by target: (0,1), (0,2), (1,2), (0,3), ..."""
        return [(i, j) for j in range(1, self.n_nodes + 1) for i in range(j)]

    def incoming(self, node):
        """Indices of the edges into ``node``."""
        return [e for e, (_, target) in enumerate(self.edges) if target == node]

    def edge_name(self, edge):
        i, j = self.edges[edge]
        return f"{i}->{j}"


def space_of(config):
    """The search space a run's config (app.config.RunConfig) describes."""
    return SearchSpace(n_nodes=config.search.nodes, ops=tuple(config.search.ops))
