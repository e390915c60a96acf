"""Export a search run's architecture: genotype.json, a readable description, a picture (DOT)."""
import shutil
import subprocess
from pathlib import Path

import torch

from . import checkpoint
from .config import RunConfig
from .genotype import derive
from .search_space import SearchSpace


def derive_run(run_dir, out=None, inputs_per_node=1, log=print):
    """Read RUN_DIR's checkpoint, write the derived genotype (default RUN_DIR/genotype.json) and
    the cell picture beside it; returns the genotype."""
    run_dir = Path(run_dir)
    state = checkpoint.load(run_dir, "cpu")
    if state is None:
        raise ValueError(f"{run_dir}: no {checkpoint.CHECKPOINT}; is it a search run directory "
                         "with at least one epoch?")
    config = RunConfig.from_dict(state["config"])
    space = SearchSpace(n_nodes=config.n_nodes, ops=tuple(config.ops))
    model = state["model"]
    alphas = model["alpha_ops"], model["alpha_activations"], model["alpha_aggregation"]
    genotype = derive(*alphas, space, config.dim, inputs_per_node)
    genotype.provenance = {
        "alpha": {"edges": [space.edge_name(e) for e in range(len(space.edges))],
                  "ops": list(space.ops), "activations": list(space.activations),
                  "aggregations": list(space.aggregations),
                  "op_weights": torch.softmax(alphas[0].float(), -1).tolist(),
                  "activation_weights": torch.softmax(alphas[1].float(), -1).tolist(),
                  "aggregation_weights": torch.softmax(alphas[2].float(), -1).tolist()},
        "search": {"run_dir": str(run_dir), "epochs_completed": state["epoch"],
                   "inputs_per_node": inputs_per_node, "config": state["config"]},
        "dataset": state.get("dataset", {}),
        "gat_heads": config.gat_heads,
    }
    out = Path(out) if out else run_dir / "genotype.json"
    genotype.save(out)
    log(genotype.describe())
    log(f"genotype written to {out}")
    dot_path = out.with_suffix(".dot")
    dot_path.write_text(to_dot(genotype))
    rendered = render(dot_path)
    log(f"cell picture: {dot_path}" + (f", {', '.join(map(str, rendered))}" if rendered else
                                        " (install Graphviz for SVG/PNG)"))
    return genotype


def to_dot(genotype):
    """The cell as a Graphviz digraph: nodes are states, edges carry their op."""
    lines = ["digraph cell {", "  rankdir=LR;", '  node [shape=box, style=rounded];',
             '  n0 [label="node 0\\nembedding"];']
    for j, node in enumerate(genotype.nodes, 1):
        lines.append(f'  n{j} [label="node {j}\\n{node.activation}"];')
        for i, op in node.inputs:
            lines.append(f'  n{i} -> n{j} [label="{op}"];')
    lines.append(f'  out [shape=ellipse, label="{genotype.aggregation}"];')
    for j in range(len(genotype.nodes) + 1):
        lines.append(f"  n{j} -> out [style=dashed];" if genotype.aggregation != "last" or
                     j == len(genotype.nodes) else "")
    lines.append("}")
    return "\n".join(line for line in lines if line) + "\n"


def render(dot_path):
    """SVG and PNG beside ``dot_path`` when Graphviz's `dot` is installed; the files written."""
    if shutil.which("dot") is None:
        return []
    written = []
    for fmt in ("svg", "png"):
        target = dot_path.with_suffix(f".{fmt}")
        if subprocess.run(["dot", f"-T{fmt}", str(dot_path), "-o", str(target)],
                          capture_output=True).returncode == 0:
            written.append(target)
    return written
