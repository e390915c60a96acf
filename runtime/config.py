"""The run configuration: nested dataclasses, one section per job, passed explicitly and saved
as config.json in the run directory. Their defaults are the command line's defaults
(train.py reads them from here), and ``seed`` is the one seed of a run: splits, sampling and
initialization all derive from it.
"""
from dataclasses import asdict, dataclass, field, fields
from typing import List, Optional

from data.interactions import DataConfig
from ops import CANDIDATES
from .errors import ConfigError

MODES = ("search", "retrain", "random_search")


@dataclass
class TrainConfig:
    """Weight training, shared by the supernet search and standalone training."""
    dim: int = 64
    batch_size: int = 2048
    lr: float = 5e-3                   # Adam (LightGCN uses 1e-3 with 1000 epochs on Gowalla)
    l2: float = 1e-4                   # on the batch's layer-0 embeddings, as LightGCN
    loss: Optional[str] = None         # softmax | bpr | ccl; None: softmax for standalone training,
                                       # bpr for the supernet search (README, "Losses")
    negatives: int = 1024              # softmax / ccl: uniform negatives shared by a batch
    temperature: float = 1.0           # softmax: logits = score / temperature
    margin: float = 0.5                # ccl: cosine margin of the negatives
    negative_weight: float = 1.0       # ccl: weight of the negatives' mean term
    gat_heads: int = 4
    gat_dropout: float = 0.0
    dropout: float = 0.0               # standalone training: message dropout on every propagated
                                       # node's output (NGCF's); the supernet search ignores it


@dataclass
class SearchConfig:
    """The supernet search (train.py without --genotype)."""
    epochs: int = 30
    nodes: int = 3                     # intermediate cell nodes K
    ops: List[str] = field(default_factory=lambda: list(CANDIDATES))   # candidates per edge
    strategy: str = "darts"            # darts (softmax mixtures) | gdas (sampled paths) |
                                       # evolution (SPOS: uniform paths, then aging evolution) |
                                       # reinforce (a controller's paths, policy gradient)
    op_weights: str = "node"           # node: sibling edges share op weights | edge: DARTS's own
    order: int = 1                     # 2: DARTS's unrolled hypergradient
    warmup_epochs: int = 5             # epochs in which only the weights train
    warmup_paths: bool = False         # ... each step on one uniformly sampled path (SPOS)
    arch_lr: float = 3e-4              # DARTS's architecture optimizer: Adam(3e-4, (0.5, 0.999), 1e-3)
    arch_weight_decay: float = 1e-3
    unrolled_lr: Optional[float] = None   # xi of the second-order virtual step; None: train.lr
    tau_max: float = 10.0              # GDAS temperature, annealed linearly to tau_min ...
    tau_min: float = 0.1
    tau_epochs: Optional[int] = None   # ... over this many epochs (None: the first --epochs)
    population: int = 20               # evolution: genotypes alive at once ...
    tournament: int = 5                # ... drawn per cycle, the fittest one mutated ...
    cycles: int = 100                  # ... for this many cycles (one child scored per cycle)
    controller_steps: int = 50         # reinforce: controller updates per epoch after warm-up
    controller_lr: float = 0.01        # reinforce: Adam on the controller's logits
    entropy_weight: float = 1e-3       # reinforce: bonus on the policy's entropy
    baseline_decay: float = 0.95       # reinforce: moving average of the rewards
    then_retrain: bool = False         # then derive the genotype and retrain it in RUN_DIR/retrain
    then_select: bool = False          # then the selection stage and the winner's retraining


@dataclass
class RetrainConfig:
    """Standalone training of a genotype (train.py --genotype); also each random-search trial."""
    genotype: Optional[str] = None     # a genotype file or a built-in name
    epochs: int = 200
    eval_every: int = 1                # epochs between validation evaluations
    patience: int = 10                 # evaluations without a better val recall before stopping
    refit: bool = False                # after early stopping, retrain on train + val
    checkpoint_seconds: float = 60.0   # least seconds between two checkpoints
    time_limit: Optional[float] = None  # stop selecting after this many training seconds
    ignore_fingerprint: bool = False   # retrain a genotype searched on other data anyway


@dataclass
class RandomSearchConfig:
    """Random search (train.py --strategy random): trials over the search space of ``search``,
    each trained as ``retrain`` says; with ``sample_settings`` each trial also draws its training
    settings as the selection stage does (the joint space of --then-select)."""
    trials: Optional[int] = None
    budget_seconds: Optional[float] = None
    sample_settings: bool = False


@dataclass
class SelectConfig:
    """The selection stage after a search (train.py --then-select), in two successive halvings
    (each trains its candidates a first round, keeps the best 1/``eta``, trains those ``eta``
    times longer, ... up to ``max_epochs``): the cells derived by ``search_seeds`` searches, their
    ``alternatives`` nearest cells and the built-in genotypes, with the run's training settings,
    from ``cells_first_epochs`` down to ``finalists`` cells; then those cells, each with the
    run's settings and ``settings_samples`` random ones, from ``first_epochs`` down to the
    winner. A first round longer than ``max_epochs`` is cut to it.

    The wall budget of both halvings: ``selection_seconds``, or else ``selection_ratio`` times
    the searches' seconds (so it grows with the data; 0: no budget). The halvings keep their
    rounds and shorten them to fit (training.selection.successive_halving); a first round runs
    in full, past the budget if it must, unless ``cut_first_round`` (benchmarks/quality.py's
    tuned built-ins: a budget that is another job's wall time must not be overrun)."""
    search_seeds: int = 1
    alternatives: int = 2
    finalists: int = 2
    settings_samples: int = 8
    cells_first_epochs: int = 15
    first_epochs: int = 5
    eta: int = 3
    max_epochs: int = 45
    selection_seconds: Optional[float] = None
    selection_ratio: float = 2.5
    cut_first_round: bool = False


SECTIONS = {"train": TrainConfig, "search": SearchConfig, "retrain": RetrainConfig,
            "random_search": RandomSearchConfig, "select": SelectConfig}


@dataclass
class RunConfig:
    mode: str = "search"               # search | retrain | random_search
    data: DataConfig = field(default_factory=DataConfig)
    out: Optional[str] = None          # run directory; None: runs/<timestamp>
    device: str = "auto"               # auto | cpu | cuda
    seed: int = 0
    topk: List[int] = field(default_factory=lambda: [20])
    eval_chunk_size: int = 1024        # users scored at once in full-ranking evaluation
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    random_search: RandomSearchConfig = field(default_factory=RandomSearchConfig)
    select: SelectConfig = field(default_factory=SelectConfig)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.search.tau_epochs is None:     # fixed once, so extending a run keeps the schedule
            self.search.tau_epochs = self.search.epochs

    @property
    def epochs(self):
        """The epochs of this run's job (a random search: of each trial)."""
        return self.search.epochs if self.mode == "search" else self.retrain.epochs

    @epochs.setter
    def epochs(self, value):
        (self.search if self.mode == "search" else self.retrain).epochs = value

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["data"] = DataConfig(**d.get("data", {}))
        for name, section in SECTIONS.items():
            d[name] = section(**d.get(name, {}))
        return cls(**d)

    @classmethod
    def from_flat(cls, mode="search", epochs=None, **values):
        """A config from flat keyword values named as the fields of any section (``lr=...``,
        ``patience=...``, ``dataset=...``); ``epochs`` goes to the mode's own section. This is
        how train.py turns its flags into a config.

        Retraining a genotype file takes its width and its hyper-parameters (schema 2) for the
        training settings that ``values`` does not name; train.py passes only the flags the
        command line gives for those, so a flag overrides the file."""
        if mode == "retrain" and values.get("genotype"):
            from supernet.genotype import BUILTINS, Genotype   # supernet imports this module
            if values["genotype"] not in BUILTINS:
                genotype = Genotype.load(values["genotype"])
                for name, value in {"dim": genotype.dim, **genotype.hyperparameters}.items():
                    values.setdefault(name, value)
        sections = {"data": DataConfig, **SECTIONS}
        built = {}
        for name, section in sections.items():
            names = {f.name for f in fields(section)}
            built[name] = section(**{k: values.pop(k) for k in list(values) if k in names})
        if epochs is not None:
            built["search" if mode == "search" else "retrain"].epochs = epochs
        return cls(mode=mode, **built, **values)
