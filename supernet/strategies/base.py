"""The interface of a search strategy. The search loop (supernet/search.py) trains a supernet's
weights on the training batches and asks its strategy, for each epoch, which mixing weights
each weight step uses (``weights``), whether α takes a step before it (``alpha_steps``), what
to do once the epoch is trained (``after_epoch``), which architecture to evaluate
(``eval_weights``) and name (``genotype``); after the last epoch, ``finish`` and ``final``.
What the strategy learns besides the supernet goes into the checkpoint (``state_dict``), and
after the search the strategy is rebuilt from it (``from_checkpoint``) to export its
architecture (``derived``) and the nearest others (``alternatives``).

A strategy whose job is not a supernet (``one_shot = False``: random search) only has
``check``; the app runs its own job.

A new strategy is one file in this folder and one line in ``STRATEGIES``
(supernet/strategies/__init__.py); its options a dataclass ``Options`` on the class, which
``SearchConfig`` (supernet/settings.py) and --help take from the registry."""
from abc import ABC, abstractmethod

from recnas.models.losses import Loss
from recnas.models.space import space_of
from recnas.ops import make_op
from recnas.runtime.errors import ConfigError
from recnas.supernet.model import ArchWeights


class Strategy(ABC):
    name = None
    one_shot = True      # trains a supernet (supernet/search.py)
    Options = None       # its own options (a dataclass), if any

    def __init__(self, config, space, model=None):
        self.config, self.space, self.model = config, space, model
        self.dim = config.train.dim

    @classmethod
    def check(cls, config):
        """Refuse the strategy's options when they cannot work (before anything is written)."""
        if config.search.order == 2:
            raise ConfigError("--order 2 needs --strategy darts (sampled architectures have no "
                              "unrolled gradient)")

    # ---- the search loop

    def alpha_steps(self, epoch):
        """Whether α takes a step before each weight step of epoch ``epoch`` (from 0)."""
        return False

    @abstractmethod
    def weights(self, epoch):
        """A function giving the mixing weights of each weight step of epoch ``epoch``."""

    def epoch_record(self, epoch):
        """What the epoch's history record holds about the strategy."""
        return {"tau": None}

    def after_epoch(self, epoch, one_shot, logger):
        """Work after the epoch's weight steps (e.g. a controller's updates); record entries."""
        return {}

    @abstractmethod
    def eval_weights(self):
        """The mixing weights of the architecture the search stands for now (evaluation)."""

    @abstractmethod
    def genotype(self):
        """The architecture the search stands for now."""

    def phase(self, record):
        """A word for the log line of an epoch without α steps."""
        return "warm-up"

    def finish(self, one_shot, logger, save):
        """After the last epoch (e.g. an evolution over the trained supernet); ``save()`` writes
        the checkpoint with the strategy's state."""

    def final(self):
        """(the search's architecture, its mixing weights for the final evaluation or None for
        ``eval_weights``'s)."""
        return self.genotype(), None

    def results(self):
        """What results.json holds about the strategy."""
        return {"evolution": None}

    # ---- state

    def state_dict(self):
        """The strategy's state for the checkpoint, besides the supernet and its α."""
        return {"strategy": self.name}

    def load_state_dict(self, state, epochs_done):
        """Continue from a checkpoint's ``state`` saved after ``epochs_done`` epochs."""

    # ---- after the search

    @classmethod
    def from_checkpoint(cls, state, config, space):
        """The strategy of a search checkpoint, with what it learned (no supernet)."""
        strategy = cls(config, space)
        strategy.alphas = ArchWeights.from_state_dict(state["model"])
        strategy.load_state_dict(state, state["epoch"])
        return strategy

    def derived(self, method, inputs_per_node, one_shot):
        """(the architecture to export, the name of the rule that chose it); ``one_shot()``
        loads the trained supernet on its data when a rule needs it."""
        if method != "argmax":
            raise ConfigError(f"--method {method} reads α, which a {self.name} search does not "
                              f"train; its genotype is {self.what_it_exports}")
        return self.genotype(), self.name

    what_it_exports = "its own"

    @abstractmethod
    def alternatives(self, n):
        """Up to ``n`` (None: all) genotypes nearest to the derived one, nearest first."""


def check_space(config, data):
    """What every search needs, before anything is written: a loss and ops that work with the
    run's settings, and a validation split to learn or pick on."""
    Loss.of(config.train, search=True)
    for name in space_of(config).computed_ops:     # e.g. a width the GAT heads do not divide
        make_op(name, config.train.dim, config.train)
    if not len(data.val):
        raise ConfigError("the validation split is empty (--val-fraction 0, or every user has "
                          "fewer than 5 training interactions): a search learns α on it, a "
                          "random search picks by it")
