"""The search strategies, one object each behind one interface (``Strategy``, base.py), and
their one registry. A checkpoint names its strategy; derive and the selection rebuild it from
there (``of_checkpoint``)."""
from recnas.supernet.strategies.base import Strategy, check_space
from recnas.supernet.strategies.darts import GDAS, Darts
from recnas.supernet.strategies.evolution import EvolutionSearch
from recnas.supernet.strategies.random import RandomSearch
from recnas.supernet.strategies.reinforce import Reinforce

STRATEGIES = {strategy.name: strategy
              for strategy in (Darts, GDAS, EvolutionSearch, Reinforce, RandomSearch)}


def of_checkpoint(state, config, space):
    """The strategy of a search checkpoint, rebuilt with what it learned. Checkpoints written
    before strategies were named there name it in their saved config."""
    name = state.get("strategy") or state["config"]["search"]["strategy"]
    return STRATEGIES[name].from_checkpoint(state, config, space)


__all__ = ["STRATEGIES", "Strategy", "check_space", "of_checkpoint"]
