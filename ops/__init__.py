"""What a cell is made of, and the one registry of every name a cell can use.

- message-passing ops, one module each: f(x, graph) -> x', width d in and out (``OPS``);
- ``NO_EDGE`` ("zero"): a search candidate meaning "no edge"; it weighs in α but is never
  computed, derived or retrained (``supernet.space`` is the one place that treats it);
- activations (``ACTIVATIONS``) and layer aggregations (``AGGREGATIONS``);
- ``mix``: the fused weighted sum behind every mixture, and ``propagate``: the sparse products.
"""
from .activations import ACTIVATIONS, make_activation
from .aggregation import AGGREGATIONS, LayerAggregation
from .gat import GATConv
from .gcn import GCNConv
from .lightgcn import LightGCNConv
from .propagation import propagate
from .sage import SAGEConv
from .skip import Skip
from .weighted_sum import mix

OPS = {op.name: op for op in (LightGCNConv, GCNConv, SAGEConv, GATConv, Skip)}
NO_EDGE = "zero"
CANDIDATES = (*OPS, NO_EDGE)   # what a search may put on an edge, in α's column order


def make_op(name, dim, gat_heads=4, gat_dropout=0.0):
    """The op called ``name`` for width ``dim``; the GAT options go to ``gat`` alone."""
    if name not in OPS:
        raise ValueError(f"unknown op {name!r}; choose one of {', '.join(OPS)}")
    options = {"heads": gat_heads, "dropout": gat_dropout} if name == "gat" else {}
    return OPS[name](dim, **options)


__all__ = ["ACTIVATIONS", "AGGREGATIONS", "CANDIDATES", "NO_EDGE", "OPS", "GATConv", "GCNConv",
           "LayerAggregation", "LightGCNConv", "SAGEConv", "Skip", "make_activation", "make_op",
           "mix", "propagate"]
