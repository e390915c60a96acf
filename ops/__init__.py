"""What a cell is made of, and the one registry of every name a cell can use.

- message-passing ops, one module each: f(x, graph) -> x', width d in and out (``OPS``);
- ``NO_EDGE`` ("zero"): a search candidate meaning "no edge"; it weighs in α but is never
  computed, derived or retrained (``supernet.space`` is the one place that treats it);
- activations (``ACTIVATIONS``) and layer aggregations (``AGGREGATIONS``);
- ``mix``: the fused weighted sum behind every mixture, and ``propagate``: the sparse products.

An op with options of its own declares them as a dataclass ``Options`` (fields named
``<op>_<option>``, each with its help) and builds itself with ``from_options(dim, options)``;
``OpOptions`` gathers every op's, and the training settings (``models.settings.TrainConfig``)
inherit it, so the flags, config files and genotype files know them without being told.
"""
from dataclasses import dataclass

from recnas.ops.activations import ACTIVATIONS, make_activation
from recnas.ops.aggregation import AGGREGATIONS, LayerAggregation
from recnas.ops.gat import GATConv, GATOptions
from recnas.ops.gcn import GCNConv
from recnas.ops.lightgcn import LightGCNConv
from recnas.ops.propagation import propagate
from recnas.ops.sage import SAGEConv
from recnas.ops.skip import Skip
from recnas.ops.weighted_sum import mix

OPS = {op.name: op for op in (LightGCNConv, GCNConv, SAGEConv, GATConv, Skip)}
NO_EDGE = "zero"
CANDIDATES = (*OPS, NO_EDGE)   # what a search may put on an edge, in α's column order



@dataclass
class OpOptions(GATOptions):
    """Every op's own options (an op with options adds its ``Options`` class here)."""


def make_op(name, dim, options=None):
    """The op called ``name`` for width ``dim``; an op with options of its own reads them from
    ``options`` (any object with ``OpOptions``'s fields, e.g. the run's training settings;
    default: their defaults)."""
    if name not in OPS:
        raise ValueError(f"unknown op {name!r}; choose one of {', '.join(OPS)}")
    op = OPS[name]
    if hasattr(op, "Options"):
        return op.from_options(dim, options if options is not None else OpOptions())
    return op(dim)


__all__ = ["ACTIVATIONS", "AGGREGATIONS", "CANDIDATES", "NO_EDGE", "OPS", "GATConv", "GCNConv",
           "LayerAggregation", "LightGCNConv", "OpOptions", "SAGEConv", "Skip", "make_activation",
           "make_op",
           "mix", "propagate"]
