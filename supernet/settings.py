"""The search's options (the ``search`` section of a run's config), and how a search's saved
config is read back by the steps after it (derive, the one-shot view)."""
from dataclasses import dataclass
from types import SimpleNamespace
from typing import List

from recnas.data.interactions import DataConfig
from recnas.models.settings import TrainConfig
from recnas.ops import CANDIDATES
from recnas.runtime.options import option
from recnas.supernet.model import OP_WEIGHTS
from recnas.supernet.strategies import STRATEGIES

# every supernet strategy's own options (its ``Options`` dataclass) are search options; reversed,
# so that the registry's first strategy's fields come first in config.json
STRATEGY_OPTIONS = [s.Options for s in reversed(STRATEGIES.values())
                    if s.one_shot and s.Options is not None]


@dataclass
class SearchConfig(*STRATEGY_OPTIONS):
    """The supernet search (train.py without --genotype): the options below, and each
    strategy's own, declared in its file (supernet/strategies/)."""
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
        choices=tuple(STRATEGIES))
    op_weights: str = option("node", "supernet op weights: one copy per source node, shared by "
                                     "its edges, or one per edge as in DARTS",
                             choices=OP_WEIGHTS)
    warmup_epochs: int = option(5, "epochs in which only the weights train")
    then_retrain: bool = option(False, "after the search, derive its genotype and retrain it "
                                       "standalone in RUN_DIR/retrain (the whole main job in one "
                                       "command)")
    then_select: bool = option(False, "after the search: searches with --search-seeds seeds, "
                                      "then the selection stage over their cells, the nearest "
                                      "cells and the built-ins with several training settings, "
                                      "then the winner's retraining (RUN_DIR/selection, "
                                      "RUN_DIR/retrain)")


def saved_config(config: dict):
    """What a search and its derive read of a run's saved config (config.json, or the one in a
    checkpoint): its data, training and search sections and run settings, as attributes."""
    return SimpleNamespace(data=DataConfig(**config["data"]), train=TrainConfig(**config["train"]),
                           search=SearchConfig(**config["search"]), seed=config["seed"],
                           topk=config["topk"], eval_chunk_size=config["eval_chunk_size"])
