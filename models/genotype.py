"""Discrete architectures (genotypes): built in by name for baselines, sampled at random from a
search space, stored as versioned JSON files and drawn as Graphviz DOT. ``derive.py`` makes them
from a search's α.

File schema (``"schema": "recnas.genotype"``, ``"version": 2``)::

    {"schema": "recnas.genotype", "version": 2,
     "nodes": [{"inputs": [[0, "lightgcn"]], "activation": "identity"}, ...],   # nodes 1..K
     "aggregation": "mean", "dim": 64,
     "hyperparameters": {"lr": 0.005, "l2": 0.01, "loss": "softmax", ...},     # optional
     "alpha": {...}, "search": {...}, "dataset": {...}}     # optional: provenance from derive

A node's inputs are [source node, op] pairs with source < node; node 0 is the embedding table.
``hyperparameters`` holds training settings chosen with the cell (names of ``HYPERPARAMETERS``,
as train.py's flags); retraining the file uses them where the command line does not set them.
Version 1 is version 2 without ``hyperparameters`` and still loads.
"""
import json
import random
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from recnas.ops import ACTIVATIONS, AGGREGATIONS, OPS
from recnas.models.losses import LOSSES
from recnas.runtime.errors import UserError
from recnas.runtime.files import write_json, write_text
from recnas.models.space import SearchSpace

SCHEMA, VERSION, READABLE_VERSIONS = "recnas.genotype", 2, (1, 2)
# training settings a genotype may carry: name -> (type, check, what the check means)
_POSITIVE, _NON_NEGATIVE = (lambda v: v > 0, "> 0"), (lambda v: v >= 0, ">= 0")
HYPERPARAMETERS = {
    "lr": (float, *_POSITIVE), "l2": (float, *_NON_NEGATIVE), "batch_size": (int, *_POSITIVE),
    "loss": (str, lambda v: v in LOSSES, f"one of {', '.join(LOSSES)}"),
    "negatives": (int, *_POSITIVE), "temperature": (float, *_POSITIVE),
    "margin": (float, lambda v: True, "a number"), "negative_weight": (float, *_NON_NEGATIVE),
    "gat_dropout": (float, lambda v: 0 <= v < 1, "in [0, 1)"),
    "dropout": (float, lambda v: 0 <= v < 1, "in [0, 1)"),
}


class GenotypeError(UserError):
    def __init__(self, source, problem):
        super().__init__(f"{source}: {problem}")


@dataclass
class NodeChoice:
    inputs: List[list]       # [[source node, op name], ...]
    activation: str


@dataclass
class Genotype:
    nodes: List[NodeChoice]  # nodes 1..K
    aggregation: str
    dim: int = 64
    provenance: dict = field(default_factory=dict)   # alpha, search config, dataset (derive)
    hyperparameters: dict = field(default_factory=dict)   # training settings (HYPERPARAMETERS)

    def describe(self):
        """One line per node, e.g. 'node 2 = relu(gcn(node 0) + lightgcn(node 1))'."""
        lines = []
        for j, node in enumerate(self.nodes, 1):
            terms = " + ".join(f"{op}(node {i})" for i, op in node.inputs)
            lines.append(f"node {j} = {node.activation}({terms})")
        lines.append(f"output = {self.aggregation}(nodes 0..{len(self.nodes)})")
        return "\n".join(lines)

    def short(self):
        nodes = "; ".join(f"{j}:{n.activation}(" + "+".join(f"{op}@{i}" for i, op in n.inputs) + ")"
                          for j, n in enumerate(self.nodes, 1))
        return f"{nodes}; out:{self.aggregation}" if nodes else f"out:{self.aggregation}"

    def signature(self):
        """What the cell computes, written without the nodes that never reach the output: cells
        with one signature train the same network (e.g. 'last' cells that differ only in a node
        the last one does not read)."""
        def expand(j):
            if j == 0:
                return "x"
            node = self.nodes[j - 1]
            return (f"{node.activation}("
                    + "+".join(f"{op}({expand(i)})" for i, op in sorted(node.inputs)) + ")")

        read = [len(self.nodes)] if self.aggregation == "last" else range(len(self.nodes) + 1)
        return f"{self.aggregation}[" + ", ".join(expand(j) for j in read) + "]"

    def to_dict(self):
        return {"schema": SCHEMA, "version": VERSION,
                "nodes": [{"inputs": [list(x) for x in n.inputs], "activation": n.activation}
                          for n in self.nodes],
                "aggregation": self.aggregation, "dim": self.dim,
                "hyperparameters": dict(self.hyperparameters), **self.provenance}

    @classmethod
    def from_dict(cls, d, source="genotype"):
        """Validate and build; every problem is a GenotypeError naming ``source``."""
        def fail(problem):
            raise GenotypeError(source, problem)

        if not isinstance(d, dict):
            fail("expected a JSON object")
        if d.get("schema") != SCHEMA:
            fail(f"not a recnas genotype (\"schema\" is {d.get('schema')!r}, expected {SCHEMA!r})")
        if d.get("version") not in READABLE_VERSIONS:
            fail(f"schema version {d.get('version')!r} is not supported (this recnas reads "
                 f"versions {', '.join(map(str, READABLE_VERSIONS))})")
        nodes = d.get("nodes")
        if not isinstance(nodes, list):
            fail('"nodes" must be a list')
        parsed = []
        for j, node in enumerate(nodes, 1):
            if not isinstance(node, dict) or not isinstance(node.get("inputs"), list) \
                    or not node["inputs"]:
                fail(f"node {j}: needs a non-empty \"inputs\" list")
            inputs = []
            for item in node["inputs"]:
                if not (isinstance(item, (list, tuple)) and len(item) == 2
                        and isinstance(item[0], int) and isinstance(item[1], str)):
                    fail(f"node {j}: input {item!r} is not [source node, op name]")
                source_node, op = item
                if not 0 <= source_node < j:
                    fail(f"node {j}: input from node {source_node}; inputs must come from "
                         f"earlier nodes 0..{j - 1}")
                if op not in OPS:
                    fail(f"node {j}: unknown op {op!r}; ops are {', '.join(OPS)}")
                inputs.append([source_node, op])
            activation = node.get("activation", "identity")
            if activation not in ACTIVATIONS:
                fail(f"node {j}: unknown activation {activation!r}; choose one of "
                     f"{', '.join(ACTIVATIONS)}")
            parsed.append(NodeChoice(inputs, activation))
        aggregation = d.get("aggregation")
        if aggregation not in AGGREGATIONS:
            fail(f"unknown aggregation {aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")
        dim = d.get("dim", 64)
        if not isinstance(dim, int) or dim < 1:
            fail(f"\"dim\" must be a positive integer, got {dim!r}")
        hyperparameters = _hyperparameters(d.get("hyperparameters", {}), fail)
        known = {"schema", "version", "nodes", "aggregation", "dim", "hyperparameters"}
        return cls(parsed, aggregation, dim, {k: v for k, v in d.items() if k not in known},
                   hyperparameters)

    def save(self, path):
        write_json(path, self.to_dict())

    def to_dot(self):
        """The cell as a Graphviz digraph: nodes are states, edges carry their op."""
        lines = ["digraph cell {", "  rankdir=LR;", '  node [shape=box, style=rounded];',
                 '  n0 [label="node 0\\nembedding"];']
        for j, node in enumerate(self.nodes, 1):
            lines.append(f'  n{j} [label="node {j}\\n{node.activation}"];')
            lines += [f'  n{i} -> n{j} [label="{op}"];' for i, op in node.inputs]
        lines.append(f'  out [shape=ellipse, label="{self.aggregation}"];')
        last = len(self.nodes)
        lines += [f"  n{j} -> out [style=dashed];" for j in range(last + 1)
                  if self.aggregation != "last" or j == last]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def draw(self, dot_path):
        """Write the DOT picture, and SVG and PNG beside it when Graphviz's `dot` is installed;
        returns the files written."""
        dot_path = Path(dot_path)
        write_text(dot_path, self.to_dot())
        written = [dot_path]
        if shutil.which("dot") is None:
            return written
        for fmt in ("svg", "png"):
            target = dot_path.with_suffix(f".{fmt}")
            if subprocess.run(["dot", f"-T{fmt}", str(dot_path), "-o", str(target)],
                              capture_output=True).returncode == 0:
                written.append(target)
        return written

    @classmethod
    def load(cls, path):
        try:
            d = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise GenotypeError(path, "no such file, and not a built-in genotype "
                                      f"({', '.join(BUILTINS)})") from None
        except IsADirectoryError:
            raise GenotypeError(path, "is a directory, expected a genotype.json") from None
        except json.JSONDecodeError as e:
            raise GenotypeError(path, f"not valid JSON (line {e.lineno}: {e.msg})") from None
        return cls.from_dict(d, source=str(path))


def _hyperparameters(values, fail):
    """The validated ``hyperparameters`` object of a genotype file (ints taken as floats)."""
    if not isinstance(values, dict):
        fail('"hyperparameters" must be a JSON object')
    checked = {}
    for name, value in values.items():
        if name not in HYPERPARAMETERS:
            fail(f"unknown hyper-parameter {name!r}; known: {', '.join(HYPERPARAMETERS)}")
        kind, ok, meaning = HYPERPARAMETERS[name]
        number = kind is not str and isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is float and number:
            value = float(value)
        if not (isinstance(value, kind) if kind is not float else number) or not ok(value):
            fail(f"hyper-parameter {name!r} must be {meaning} ({kind.__name__}), got {value!r}")
        checked[name] = value
    return checked


def builtin(name, dim=64, layers=3):
    """Baselines by name: lightgcn (exactly LightGCN), gcn, sage, gat (``layers`` layers, mean of
    layers as LightGCN), mf (no propagation: matrix factorization)."""
    if name == "mf":
        return Genotype([], "last", dim)
    activation = {"lightgcn": "identity", "gcn": "relu", "sage": "relu", "gat": "elu"}.get(name)
    if activation is None:
        raise GenotypeError(name, f"no such built-in genotype; built-ins are {', '.join(BUILTINS)}")
    return Genotype([NodeChoice([[j - 1, name]], activation) for j in range(1, layers + 1)],
                    "mean", dim)


BUILTINS = ("lightgcn", "gcn", "sage", "gat", "mf")


def resolve(name_or_path, dim=64):
    """A built-in name or a genotype file, of width ``dim`` (the run's --dim, which is the
    file's own width unless the command line sets another: RunConfig.from_flat)."""
    if name_or_path in BUILTINS:
        return builtin(name_or_path, dim)
    genotype = Genotype.load(name_or_path)
    genotype.dim = dim
    return genotype


def sample(space: SearchSpace, dim, rng: random.Random, inputs_per_node=1):
    """A uniformly random architecture of the search space (random-search baseline)."""
    ops = space.computed_ops
    nodes = []
    for j in range(1, space.n_nodes + 1):
        sources = sorted(rng.sample(range(j), min(inputs_per_node, j)))
        nodes.append(NodeChoice([[i, rng.choice(ops)] for i in sources],
                                rng.choice(space.activations)))
    return Genotype(nodes, rng.choice(space.aggregations), dim)
