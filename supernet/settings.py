"""The search's options (the ``search`` section of a run's config), and how a search's saved
config is read back by the steps after it (derive, the one-shot view)."""
from dataclasses import dataclass
from types import SimpleNamespace
from typing import List, Optional

from recnas.data.interactions import DataConfig
from recnas.models.settings import TrainConfig
from recnas.ops import CANDIDATES
from recnas.runtime.options import option
from recnas.supernet.model import OP_WEIGHTS

STRATEGIES = ("darts", "gdas", "evolution", "reinforce")


@dataclass
class SearchConfig:
    """The supernet search (train.py without --genotype)."""
    epochs: int = option(30, "search epochs", cli=False)   # the flag --epochs is the mode's
    nodes: int = option(3, "intermediate cell nodes K, like a K-layer GNN")
    ops: List[str] = option(list(CANDIDATES), "candidate ops on every edge",
                            default_help=f"all: {list(CANDIDATES)}")
    strategy: str = option(
        "darts", "darts: softmax mixtures and α; gdas: sampled paths and α; evolution: the "
                 "supernet trained on uniform paths (SPOS), then aging evolution scoring "
                 "genotypes with its weights; reinforce: a controller samples the training paths "
                 "and learns by policy gradient from their validation recall; random: sample and "
                 "retrain architectures, needs --trials or --budget-seconds",
        choices=(*STRATEGIES, "random"))
    op_weights: str = option("node", "supernet op weights: one copy per source node, shared by "
                                     "its edges, or one per edge as in DARTS",
                             choices=OP_WEIGHTS)
    then_retrain: bool = option(False, "after the search, derive its genotype and retrain it "
                                       "standalone in RUN_DIR/retrain (the whole main job in one "
                                       "command)")
    then_select: bool = option(False, "after the search: searches with --search-seeds seeds, "
                                      "then the selection stage over their cells, the nearest "
                                      "cells and the built-ins with several training settings, "
                                      "then the winner's retraining (RUN_DIR/selection, "
                                      "RUN_DIR/retrain)")
    population: int = option(20, "evolution: genotypes alive at once")
    tournament: int = option(5, "evolution: members drawn per cycle; the fittest is copied with "
                                "one choice changed")
    cycles: int = option(100, "evolution: cycles, each scores one new genotype; the oldest "
                              "member leaves")
    controller_steps: int = option(50, "reinforce: controller updates per epoch after the "
                                       "warm-up, each on one sampled path")
    controller_lr: float = option(0.01, "reinforce: Adam learning rate of the controller")
    entropy_weight: float = option(1e-3, "reinforce: weight of the policy's entropy bonus")
    baseline_decay: float = option(0.95, "reinforce: decay of the rewards' moving-average "
                                         "baseline")
    order: int = option(1, "1: first-order α gradient; 2: DARTS's unrolled gradient",
                        choices=(1, 2))
    warmup_epochs: int = option(5, "epochs in which only the weights train")
    warmup_paths: bool = option(False, "in the warm-up, train each weight step on one uniformly "
                                       "sampled path (one input, op and activation per node, as "
                                       "SPOS) instead of the full mixture, so that every op's "
                                       "weights also work alone")
    arch_lr: float = option(3e-4, "Adam learning rate of α (DARTS's architecture optimizer: "
                                  "Adam(3e-4, (0.5, 0.999), 1e-3))")
    arch_weight_decay: float = option(1e-3, "weight decay of α")
    unrolled_lr: Optional[float] = option(None, "xi of the second-order virtual step",
                                          default_help="--lr")
    tau_max: float = option(10.0, "GDAS start temperature")
    tau_min: float = option(0.1, "GDAS end temperature")
    tau_epochs: Optional[int] = option(None, "GDAS: epochs over which the temperature falls "
                                             "(fixed once, so extending a run keeps the "
                                             "schedule)", default_help="--epochs")


def saved_config(config: dict):
    """What a search and its derive read of a run's saved config (config.json, or the one in a
    checkpoint): its data, training and search sections and run settings, as attributes."""
    return SimpleNamespace(data=DataConfig(**config["data"]), train=TrainConfig(**config["train"]),
                           search=SearchConfig(**config["search"]), seed=config["seed"],
                           topk=config["topk"], eval_chunk_size=config["eval_chunk_size"])
