"""The export of a search run directory to genotype.json with a picture (``derive``, behind
derive.py): its strategy, rebuilt from the checkpoint, says which architecture (for α: the
argmax rule or DARTS-PT's perturbation rule, supernet/discretize.py)."""
from pathlib import Path

from recnas.runtime import checkpoint
from recnas.supernet.settings import saved_config
from recnas.runtime.progress import log
from recnas.models.space import space_of
from recnas.supernet.model import ArchWeights
from recnas.supernet.oneshot import OneShot
from recnas.supernet.strategies import of_checkpoint

METHODS = ("argmax", "perturbation")


def derive(run_dir, out=None, inputs_per_node=1, method="argmax"):
    """Read RUN_DIR's search checkpoint, write the derived genotype (default
    RUN_DIR/genotype.json) with its α, search config and dataset fingerprint, and the cell
    picture beside it; returns the genotype. ``method``: argmax of α, or perturbation (loads
    the data and scores the supernet on validation; see ``discretize_by_perturbation``)."""
    run_dir = Path(run_dir)
    state = checkpoint.load(run_dir, "search")
    if state is None:
        raise checkpoint.CheckpointError(
            f"{run_dir}: no {checkpoint.CHECKPOINT}; derive.py needs a search run directory "
            "with at least one finished epoch")
    config = saved_config(state["config"])
    space = space_of(config)
    alphas = ArchWeights.from_state_dict(state["model"])
    strategy = of_checkpoint(state, config, space)
    genotype, method = strategy.derived(method, inputs_per_node,
                                        lambda: OneShot.from_state(state, run_dir))
    genotype.provenance = {
        "alpha": alphas.softmax().to_record(space),
        "search": {"run_dir": str(run_dir), "epochs_completed": state["epoch"],
                   "inputs_per_node": inputs_per_node, "method": method,
                   "config": state["config"]},
        "dataset": state["dataset"],
        "gat_heads": config.train.gat_heads,
    }
    out = Path(out) if out else run_dir / "genotype.json"
    genotype.save(out)
    log.info(genotype.describe())
    log.info(f"genotype written to {out}")
    pictures = genotype.draw(out.with_suffix(".dot"))
    log.info("cell picture: " + ", ".join(map(str, pictures))
             + ("" if len(pictures) > 1 else " (install Graphviz for SVG/PNG)"))
    return genotype
