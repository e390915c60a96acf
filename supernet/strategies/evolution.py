"""Single-path one-shot (SPOS; Guo et al. 2020) with aging evolution (Real et al. 2019): the
supernet's weights train on one uniformly sampled path per step and α never moves; after the
last epoch, an aging evolution scores genotypes with the trained supernet's weights (its
validation Recall@K) and exports the fittest it met. While the paths train, the search shows
one fixed random path (``reference_path``): there is no mixture to score."""
import random
from dataclasses import dataclass

from recnas.models.genotype import sample
from recnas.runtime.errors import ConfigError
from recnas.runtime.options import option
from recnas.runtime.progress import log
from recnas.supernet.evolution import Evolution, evolve
from recnas.supernet.model import ArchWeights
from recnas.supernet.strategies.base import Strategy


@dataclass
class EvolutionOptions:
    """evolution: the aging evolution after the path training"""
    population: int = option(20, "evolution: genotypes alive at once")
    tournament: int = option(5, "evolution: members drawn per cycle; the fittest is copied with "
                                "one choice changed")
    cycles: int = option(100, "evolution: cycles, each scores one new genotype; the oldest "
                              "member leaves")


class EvolutionSearch(Strategy):
    name = "evolution"
    Options = EvolutionOptions
    what_it_exports = "the fittest one evolution scored"

    def __init__(self, config, space, model=None):
        super().__init__(config, space, model)
        self.evolution = None       # set once the evolution runs (after the last epoch)

    @classmethod
    def check(cls, config):
        super().check(config)
        s = config.search
        if s.population < 2 or not 2 <= s.tournament <= s.population or s.cycles < 0:
            raise ConfigError("evolution needs --population >= 2, 2 <= --tournament <= "
                              f"--population and --cycles >= 0 (got {s.population}, "
                              f"{s.tournament}, {s.cycles})")

    def reference_path(self):
        """The fixed random single-input genotype whose validation score shows how the path
        training progresses."""
        return sample(self.space, self.dim, random.Random(self.config.seed))

    def weights(self, epoch):
        return lambda: self.model.arch_weights("path")

    def eval_weights(self):
        return ArchWeights.of_genotype(self.reference_path(), self.space, self.model.embedding)

    def genotype(self):
        return self.reference_path()

    def phase(self, record):
        return "paths"

    def finish(self, one_shot, logger, save):
        """Aging evolution over genotypes scored with the trained supernet's weights; a
        checkpoint every 10 cycles and at the end."""
        s, k = self.config.search, self.config.topk[0]
        one_shot.supernet.eval()
        log.info(f"evolution: population {s.population}, tournament {s.tournament}, "
                 f"{s.cycles} cycles, genotypes scored by the supernet's val recall@{k}")

        def after_cycle(state, child_fitness):
            self.evolution = state
            fitness = [state.scored[name][0] for name in state.population]
            best = max(value for value, _ in state.scored.values())
            logger.writer.add_scalar("evolution/population_best", max(fitness), state.cycles)
            logger.writer.add_scalar("evolution/population_mean", sum(fitness) / len(fitness),
                                     state.cycles)
            logger.writer.add_scalar("evolution/best_ever", best, state.cycles)
            if child_fitness is not None:
                logger.writer.add_scalar("evolution/child", child_fitness, state.cycles)
            if state.cycles % 10 == 0 or state.cycles == s.cycles:
                log.info(f"evolution: cycle {state.cycles}/{s.cycles}  population best "
                         f"{max(fitness):.4f} mean {sum(fitness) / len(fitness):.4f}  best ever "
                         f"{best:.4f}  ({len(state.scored)} genotypes scored)")
                save()

        self.evolution = evolve(one_shot.score_genotype, one_shot.space, self.dim,
                                self.config.seed, s.population, s.tournament, s.cycles,
                                self.evolution, after_cycle)

    def final(self):
        genotype = self.evolution.best()[0]
        return genotype, ArchWeights.of_genotype(genotype, self.space, self.model.embedding)

    def results(self, n=10):
        ranked = sorted(self.evolution.scored.items(), key=lambda item: -item[1][0])[:n]
        return {"evolution": {"cycles": self.evolution.cycles,
                              "scored": len(self.evolution.scored),
                              "best": [{"genotype": name, "val_recall": value}
                                       for name, (value, _) in ranked]}}

    def state_dict(self):
        return {**super().state_dict(),
                "evolution": None if self.evolution is None else self.evolution.state_dict()}

    def load_state_dict(self, state, epochs_done):
        """An evolution saved after the last epoch continues; one saved before a run was
        extended with more epochs starts again after them."""
        if state.get("evolution") is not None and epochs_done == self.config.search.epochs:
            self.evolution = Evolution.from_state_dict(state["evolution"])

    @classmethod
    def from_checkpoint(cls, state, config, space):
        strategy = cls(config, space)
        if state.get("evolution") is None:
            raise ConfigError("this evolution search has not evolved yet (its supernet is "
                              "still training): finish it with --resume first")
        strategy.evolution = Evolution.from_state_dict(state["evolution"])
        return strategy

    def derived(self, method, inputs_per_node, one_shot):
        super().derived(method, inputs_per_node, one_shot)          # refuses α's rules
        genotype = self.evolution.best()[0]
        genotype.dim = self.dim
        return genotype, self.name

    def alternatives(self, n):
        """The next fittest genotypes evolution met."""
        return self.evolution.best(None)[1:] if n is None else self.evolution.best(n + 1)[1:]
