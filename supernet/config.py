"""The run configuration: one dataclass, passed explicitly, saved as config.json in the run dir."""
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from data.interactions import DataConfig
from .search_space import CANDIDATE_OPS


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    out: Optional[str] = None          # run directory; None: runs/<timestamp>
    device: str = "auto"               # auto | cpu | cuda
    seed: int = 0
    epochs: int = 30                   # search epochs; train.py retrains for up to 200
    dim: int = 64
    topk: List[int] = field(default_factory=lambda: [20])
    eval_chunk_size: int = 1024
    eval_every: int = 1
    # weights
    batch_size: int = 2048
    lr: float = 5e-3                   # Adam (LightGCN uses 1e-3 with 1000 epochs on Gowalla)
    l2: float = 1e-4                   # on the batch's layer-0 embeddings, as LightGCN
    # search
    n_nodes: int = 3
    ops: List[str] = field(default_factory=lambda: list(CANDIDATE_OPS))   # candidates per edge
    strategy: str = "darts"            # darts | gdas
    order: int = 1
    warmup_epochs: int = 5
    arch_lr: float = 3e-4              # DARTS's architecture optimizer: Adam(3e-4, (0.5, 0.999), 1e-3)
    arch_weight_decay: float = 1e-3
    unrolled_lr: Optional[float] = None  # xi of the second-order virtual step; None: lr
    tau_max: float = 10.0              # GDAS temperature, annealed linearly to tau_min
    tau_min: float = 0.1
    gat_heads: int = 4
    gat_dropout: float = 0.0
    # retraining a genotype (train.py --genotype) and random search (--strategy random)
    genotype: Optional[str] = None     # a genotype file or a built-in name
    patience: int = 10                 # evaluations without a better val recall before stopping
    refit: bool = False                # after early stopping, retrain on train + val
    checkpoint_seconds: float = 60.0   # retraining: least seconds between two checkpoints
    trials: Optional[int] = None       # random search: number of sampled architectures
    budget_seconds: Optional[float] = None  # random search: wall-clock budget

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["data"] = DataConfig(**d.get("data", {}))
        return cls(**d)
