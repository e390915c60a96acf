"""The run configuration: one dataclass per section, each declared in the room that uses it
(``data``: data.interactions, ``train``: models.settings with the loss's and the ops' options,
``search``: supernet.settings, ``retrain``: training.retrain, ``select``: training.selection,
``random_search``: supernet.strategies.random), composed here into ``RunConfig`` and saved as
config.json in the run directory. Every field carries its help text; train.py builds its flags
from them, and ``--config FILE`` reads a file with the same names. ``seed`` is the one seed of a
run: splits, sampling and initialization all derive from it.
"""
from dataclasses import asdict, dataclass, field, fields
from typing import List, Optional

from recnas.data.interactions import DataConfig
from recnas.models.genotype import BUILTINS, Genotype
from recnas.models.settings import TrainConfig
from recnas.runtime.errors import ConfigError
from recnas.runtime.options import option
from recnas.supernet.strategies.random import RandomSearchConfig
from recnas.supernet.settings import SearchConfig
from recnas.training.retrain import RetrainConfig
from recnas.training.selection import SelectConfig

MODES = ("search", "retrain", "random_search")

# section name -> (its dataclass, the title of its flags in --help)
SECTIONS = {"data": (DataConfig, "data"), "train": (TrainConfig, "training"),
            "retrain": (RetrainConfig, "retraining"), "search": (SearchConfig, "search"),
            "select": (SelectConfig, "selection (--then-select)"),
            "random_search": (RandomSearchConfig, "random search (--strategy random)")}


@dataclass
class RunConfig:
    """A run: which job (``mode``), where, with what seed, and a section per part."""
    mode: str = option("search", "search | retrain | random_search: set by --genotype and "
                                 "--strategy", cli=False)
    data: DataConfig = field(default_factory=DataConfig)
    out: Optional[str] = option(None, "run directory", default_help="runs/<timestamp>")
    device: str = option("auto", "auto: CUDA when available", choices=("auto", "cpu", "cuda"))
    seed: int = option(0, "splits, sampling and initialization")
    topk: List[int] = option([20], "cut-offs K; the first one drives early stopping")
    eval_chunk_size: int = option(1024, "users scored at once in full-ranking evaluation")
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
        """A config from its dict (config.json); an unknown name is a ConfigError naming it."""
        d = dict(d)
        for name, (section, _) in SECTIONS.items():
            values = d.get(name, {})
            unknown = set(values) - {f.name for f in fields(section)}
            if unknown:
                raise ConfigError(f"unknown setting(s) in section {name!r}: "
                                  f"{', '.join(sorted(unknown))}")
            d[name] = section(**values)
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
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
            if values["genotype"] not in BUILTINS:
                genotype = Genotype.load(values["genotype"])
                for name, value in {"dim": genotype.dim, **genotype.hyperparameters}.items():
                    values.setdefault(name, value)
        built = {}
        for name, (section, _) in SECTIONS.items():
            names = {f.name for f in fields(section)}
            built[name] = section(**{k: values.pop(k) for k in list(values) if k in names})
        if epochs is not None:
            built["search" if mode == "search" else "retrain"].epochs = epochs
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(mode=mode, **built, **values)
