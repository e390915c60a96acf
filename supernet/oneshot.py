"""The one-shot view: a trained supernet scores any architecture with its own weights, no
training. Mixing weights in (a genotype's one-hot, α with one choice removed), validation
Recall@K out. Derive's perturbation rule and the ranking benchmark use it; the test split is
never loaded into it."""
from pathlib import Path

import torch

from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import load_interactions
from recnas.evaluation.metrics import RankingEvaluator
from recnas.runtime import checkpoint
from recnas.supernet.settings import saved_config
from recnas.supernet.model import ArchWeights, Supernet
from recnas.models.space import space_of


class OneShot:
    def __init__(self, supernet: Supernet, graph, evaluator: RankingEvaluator, n_users, k):
        self.supernet, self.graph, self.evaluator = supernet.eval(), graph, evaluator
        self.n_users, self.k = n_users, k

    @classmethod
    def load(cls, run_dir, device="cpu"):
        """The supernet of RUN_DIR's search checkpoint on the data it was searched on."""
        state = checkpoint.load(Path(run_dir), "search", device)
        if state is None:
            raise checkpoint.CheckpointError(f"{run_dir}: no {checkpoint.CHECKPOINT} of a search")
        return cls.from_state(state, run_dir, device)

    @classmethod
    def from_state(cls, state, run_dir, device="cpu"):
        """The same from a search checkpoint already read (``state``) from RUN_DIR."""
        config = saved_config(state["config"])
        data = load_interactions(config.data, config.seed)
        if data.fingerprint != state["dataset"]["fingerprint"]:
            raise checkpoint.CheckpointError(f"{run_dir}: the data changed since this search")
        data = data.without_test()
        supernet = Supernet(data.n_users, data.n_items, config.train.dim, space_of(config),
                            config.train,
                            config.search.op_weights).to(device)
        supernet.load_state_dict(state["model"])
        graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items).to(device)
        evaluator = RankingEvaluator(data.val, [data.train], data.n_users, data.n_items,
                                     [config.topk[0]], config.eval_chunk_size, device)
        return cls(supernet, graph, evaluator, data.n_users, config.topk[0])

    @property
    def space(self):
        return self.supernet.space

    def mixture(self):
        """The search's mixing weights: softmax of its α."""
        return self.supernet.alphas().softmax().map(torch.Tensor.detach)

    @torch.no_grad()
    def score(self, weights: ArchWeights):
        """Validation Recall@K of the supernet under mixing ``weights``."""
        reps = self.supernet(self.graph, weights)
        metrics = self.evaluator(reps[:self.n_users], reps[self.n_users:])
        return metrics[f"recall@{self.k}"]

    def score_genotype(self, genotype):
        """Validation Recall@K of ``genotype`` with the supernet's inherited weights."""
        return self.score(ArchWeights.of_genotype(genotype, self.space, self.supernet.embedding))
