"""REINFORCE (ENAS-style, Pham et al. 2018): a controller samples the path each weight step
trains; after the warm-up it learns by policy gradient, rewarded by a sampled path's validation
Recall@K with the supernet's current weights. It exports its most likely genotype."""
import torch

from recnas.runtime.errors import ConfigError
from recnas.supernet.controller import Controller, ReinforceOptions
from recnas.supernet.model import ArchWeights
from recnas.supernet.strategies.base import Strategy


class Reinforce(Strategy):
    name = "reinforce"
    Options = ReinforceOptions
    what_it_exports = "the controller's most likely one"

    def __init__(self, config, space, model=None):
        super().__init__(config, space, model)
        s = config.search                      # holds ReinforceOptions's fields
        self.controller = Controller(space, s)

    @classmethod
    def check(cls, config):
        super().check(config)
        s = config.search
        if s.controller_steps < 1 or not s.controller_lr > 0 or not 0 <= s.baseline_decay < 1:
            raise ConfigError("reinforce needs --controller-steps >= 1, --controller-lr > 0 and "
                              f"0 <= --baseline-decay < 1 (got {s.controller_steps}, "
                              f"{s.controller_lr}, {s.baseline_decay})")

    def weights(self, epoch):
        controller, model = self.controller, self.model

        def sampled():
            with torch.no_grad():
                choices = controller.sample()[0]
            return ArchWeights.of_genotype(controller.genotype(choices, model.dim), model.space,
                                           model.embedding.detach())
        return sampled

    def after_epoch(self, epoch, one_shot, logger):
        """``controller_steps`` REINFORCE steps after the warm-up, each rewarded by the
        validation Recall@K of a sampled path with the supernet's current weights."""
        if epoch < self.config.search.warmup_epochs:
            return {}
        controller, rewards = self.controller, []
        one_shot.supernet.eval()
        for _ in range(self.config.search.controller_steps):
            reward, _ = controller.step(lambda choices: one_shot.score_genotype(
                controller.genotype(choices, self.dim)))
            rewards.append(reward)
        entropy = controller.entropy()
        mean = sum(rewards) / len(rewards) if rewards else float("nan")
        for name, value in (("reward", mean), ("baseline", controller.baseline),
                            ("entropy", entropy)):
            if value is not None:
                logger.writer.add_scalar(f"controller/{name}", value, epoch)
        return {"controller_reward": mean, "controller_entropy": entropy}

    def eval_weights(self):
        return ArchWeights.of_genotype(self.genotype(), self.space, self.model.embedding)

    def genotype(self):
        return self.controller.genotype(self.controller.mode(), self.dim)

    def phase(self, record):
        if "controller_reward" not in record:
            return "warm-up"
        return (f"controller reward {record['controller_reward']:.4f} "
                f"entropy {record['controller_entropy']:.2f}")

    def state_dict(self):
        return {**super().state_dict(), "controller": self.controller.state()}

    def load_state_dict(self, state, epochs_done):
        self.controller.load(state["controller"])

    def alternatives(self, n):
        """The next most likely genotypes of the policy."""
        return self.controller.alternatives(n, self.dim)
