"""DARTS (Liu et al. 2019): softmax mixtures of every choice, α learned by gradient on
validation batches (first order, or the unrolled second order); and GDAS (Dong & Yang 2019): one
path per step, sampled by a hard Gumbel-softmax of α (straight-through), with the temperature
annealed. Both derive by the argmax of α (or DARTS-PT's perturbation rule)."""
from dataclasses import dataclass
from typing import Optional

from recnas.runtime.errors import ConfigError
from recnas.runtime.options import option
from recnas.supernet.discretize import alternatives, discretize, discretize_by_perturbation
from recnas.supernet.strategies.base import Strategy


@dataclass
class DartsOptions:
    """darts and gdas: α's optimizer and gradient"""
    order: int = option(1, "1: first-order α gradient; 2: DARTS's unrolled gradient",
                        choices=(1, 2))
    warmup_paths: bool = option(False, "in the warm-up, train each weight step on one uniformly "
                                       "sampled path (one input, op and activation per node, as "
                                       "SPOS) instead of the full mixture, so that every op's "
                                       "weights also work alone")
    arch_lr: float = option(3e-4, "Adam learning rate of α (DARTS's architecture optimizer: "
                                  "Adam(3e-4, (0.5, 0.999), 1e-3))")
    arch_weight_decay: float = option(1e-3, "weight decay of α")
    unrolled_lr: Optional[float] = option(None, "xi of the second-order virtual step",
                                          default_help="--lr")


@dataclass
class GDASOptions:
    """gdas: its temperature schedule"""
    tau_max: float = option(10.0, "GDAS start temperature")
    tau_min: float = option(0.1, "GDAS end temperature")
    tau_epochs: Optional[int] = option(None, "GDAS: epochs over which the temperature falls "
                                             "(fixed once, so extending a run keeps the "
                                             "schedule)", default_help="--epochs")


def gumbel_tau(search_config, epoch):
    """GDAS's temperature: linear from tau_max (first epoch) to tau_min over ``tau_epochs``
    epochs, then tau_min. It does not depend on ``epochs``, so a run extended with --resume
    --epochs anneals as a straight run of the same config."""
    s = search_config
    if s.tau_epochs <= 1:
        return s.tau_min
    return max(s.tau_min, s.tau_max - (s.tau_max - s.tau_min) * epoch / (s.tau_epochs - 1))


class Darts(Strategy):
    name = "darts"
    Options = DartsOptions
    mixing = "darts"        # how α mixes in a weight step (Supernet.arch_weights)
    evaluating = "darts"    # ... and in evaluation: the mixture

    @classmethod
    def check(cls, config):
        pass                # both orders work

    def alpha_steps(self, epoch):
        return epoch >= self.config.search.warmup_epochs

    def weights(self, epoch):
        s = self.config.search
        mixing = "path" if s.warmup_paths and not self.alpha_steps(epoch) else self.mixing
        tau = gumbel_tau(s, epoch)
        return lambda: self.model.arch_weights(mixing, tau)

    def eval_weights(self):
        return self.model.arch_weights(self.evaluating)

    def genotype(self):
        return discretize(self.model.alphas(), self.space, self.dim)

    def derived(self, method, inputs_per_node, one_shot):
        if method == "argmax":
            return discretize(self.alphas, self.space, self.dim, inputs_per_node), method
        if method == "perturbation":
            shot = one_shot()
            return discretize_by_perturbation(shot.mixture(), shot.score, self.space, self.dim,
                                              inputs_per_node), method
        raise ConfigError(f"unknown derive method {method!r}")

    def alternatives(self, n):
        return alternatives(self.alphas, self.space, self.dim, n)


class GDAS(Darts):
    name = "gdas"
    Options = GDASOptions
    mixing = "gdas"         # one hard Gumbel-softmax sample of α per step
    evaluating = "argmax"   # its evaluation: the argmax path

    @classmethod
    def check(cls, config):
        Strategy.check(config)

    def epoch_record(self, epoch):
        return {"tau": gumbel_tau(self.config.search, epoch)}
