"""The training settings of a network, shared by the supernet search and standalone training
(the ``train`` section of a run's config). The loss's options come from ``models.losses`` and
each op's from ``ops``; the rest are declared here."""
from dataclasses import dataclass

from recnas.models.losses import LossOptions
from recnas.ops import OpOptions
from recnas.runtime.options import option


@dataclass
class TrainConfig(LossOptions, OpOptions):
    """Weight training, shared by the supernet search and standalone training."""
    dim: int = option(64, "embedding width d", default_help="%(default)s, or a genotype file's")
    batch_size: int = option(2048, "positive pairs per step")
    lr: float = option(5e-3, "Adam learning rate of the weights (LightGCN uses 1e-3 with 1000 "
                             "epochs on Gowalla)")
    l2: float = option(1e-4, "L2 on the batch's layer-0 embeddings, as LightGCN")
    dropout: float = option(0.0, "retraining: message dropout, the share of each propagated "
                                 "node's output zeroed in training (NGCF's); the supernet search "
                                 "ignores it")
