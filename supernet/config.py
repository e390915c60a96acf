"""The run configuration: one dataclass, passed explicitly, saved as config.json in the run dir."""
from dataclasses import asdict, dataclass, field
from typing import List, Optional

from data.interactions import DataConfig


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    out: Optional[str] = None          # run directory; None: runs/<timestamp>
    device: str = "auto"               # auto | cpu | cuda
    seed: int = 0
    epochs: int = 0
    dim: int = 64
    topk: List[int] = field(default_factory=lambda: [20])
    eval_chunk_size: int = 1024

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["data"] = DataConfig(**d.get("data", {}))
        return cls(**d)
