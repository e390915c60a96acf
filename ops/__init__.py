"""Candidate message-passing ops: f(x, graph) -> x', width d in and out, and their registry."""
from .activations import ACTIVATIONS, make_activation
from .basic import Skip, Zero
from .gat import GATConv
from .gcn import GCNConv
from .lightgcn import LightGCNConv
from .propagation import propagate
from .sage import SAGEConv

OPS = {op.name: op for op in (LightGCNConv, GCNConv, SAGEConv, GATConv, Skip, Zero)}


def make_op(name, dim, **options):
    """The op called ``name`` for width ``dim``; ``options`` go to its constructor (e.g. heads)."""
    if name not in OPS:
        raise ValueError(f"unknown op {name!r}; choose one of {', '.join(OPS)}")
    return OPS[name](dim, **options)


__all__ = ["ACTIVATIONS", "OPS", "GATConv", "GCNConv", "LightGCNConv", "SAGEConv", "Skip", "Zero",
           "make_activation", "make_op", "propagate"]
