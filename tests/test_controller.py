"""The REINFORCE controller (--strategy reinforce): it finds the best genotype of a planted
reward, its alternatives are one choice away, and a killed and resumed search equals a straight
one and ends in a genotype.json that train.py takes."""

import pytest
import torch

from recnas.app.config import RunConfig
from recnas.app.jobs import run
from recnas.supernet.controller import Controller, ReinforceOptions
from recnas.supernet.derive import derive
from recnas.models.space import SearchSpace

from helpers import Killed, kill_after_save, small_dataset
from test_evolution import choices, planted_fitness


@pytest.mark.parametrize("seed", [0, 1])
def test_reinforce_finds_the_best_genotype_of_a_planted_reward(seed):
    torch.manual_seed(seed)
    space = SearchSpace()
    fitness, target, top, _ = planted_fitness(space)
    controller = Controller(space, ReinforceOptions(controller_lr=0.1, entropy_weight=1e-3,
                                                   baseline_decay=0.9))
    start_entropy = controller.entropy()
    rewards = [controller.step(lambda c: fitness(controller.genotype(c, 8)) / top)[0]
               for _ in range(600)]
    assert choices(controller.genotype(controller.mode(), 8)) == target
    assert controller.entropy() < start_entropy / 2
    assert sum(rewards[-100:]) / 100 > sum(rewards[:100]) / 100 + 0.3   # it learned


def policy_choices(genotype, space):
    """A genotype as the controller's choice indices: per node its (input, op) pair, per node
    its activation, the aggregation."""
    n_ops = len(space.computed_ops)
    return ([n.inputs[0][0] * n_ops + space.computed_ops.index(n.inputs[0][1])
             for n in genotype.nodes] + [space.activations.index(n.activation)
                                         for n in genotype.nodes]
            + [space.aggregations.index(genotype.aggregation)])


def test_alternatives_change_one_choice_of_the_mode_most_likely_first():
    torch.manual_seed(0)
    space = SearchSpace()
    controller = Controller(space)
    with torch.no_grad():
        for p in controller.parameters():
            p.normal_()
    best = controller.mode()
    log_probs = [d.logits.detach().log_softmax(-1) for d in controller._distributions()]

    def log_prob(indices):
        return sum(float(lp[i]) for lp, i in zip(log_probs, indices))

    alternatives = [policy_choices(g, space) for g in controller.alternatives(6, 8)]
    assert len(alternatives) == 6
    assert all(sum(a != b for a, b in zip(alt, best)) == 1 for alt in alternatives)
    scores = [log_prob(alt) for alt in alternatives]
    assert scores == sorted(scores, reverse=True) and max(scores) < log_prob(best)


def small_config(tmp_path, out, **overrides):
    settings = dict(dataset=str(small_dataset(tmp_path / "inter.txt", n_users=60, n_items=40)),
                    out=str(tmp_path / out), device="cpu", epochs=4, warmup_epochs=1, dim=8,
                    batch_size=32, nodes=2, gat_heads=2, strategy="reinforce",
                    controller_steps=5)
    settings.update(overrides)
    return RunConfig.from_flat("search", **settings)


def test_reinforce_search_killed_and_resumed_equals_a_straight_run(tmp_path, monkeypatch):
    straight = run(small_config(tmp_path, "straight"))
    restore = kill_after_save(monkeypatch, lambda state: state["epoch"] == 2)
    with pytest.raises(Killed):
        run(small_config(tmp_path, "killed"))
    restore()
    resumed = run(small_config(tmp_path, "killed"), resume=True)
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False)
            for d in ("straight", "killed"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    for key, value in a["controller"]["logits"].items():
        assert torch.equal(b["controller"]["logits"][key], value), key
    assert a["controller"]["baseline"] == b["controller"]["baseline"]
    assert resumed["genotype"] == straight["genotype"] and resumed["val"] == straight["val"]
    untimed = [[{k: v for k, v in h.items() if k not in ("train_seconds", "seconds")}
                for h in r["history"]]
               for r in (straight, resumed)]
    assert untimed[0] == untimed[1]
    assert [h.get("controller_reward") is None for h in straight["history"]] == \
        [True, False, False, False]                                  # after the warm-up only

    # derive.py and train.py --genotype take its result unchanged
    assert derive(tmp_path / "straight").to_dict()["nodes"] == straight["genotype"]["nodes"]
    retrained = run(RunConfig.from_flat(
        "retrain", dataset=str(tmp_path / "inter.txt"), out=str(tmp_path / "retrain"),
        device="cpu", epochs=2, batch_size=32,
        genotype=str(tmp_path / "straight" / "genotype.json")))
    assert retrained["genotype"]["nodes"] == straight["genotype"]["nodes"]


def test_reinforce_logs_reward_and_entropy(tmp_path, caplog):
    """To TensorBoard, and on the progress line of every epoch after the warm-up."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    with caplog.at_level("INFO"):
        history = run(small_config(tmp_path, "run", epochs=3))["history"]
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    for name in ("reward", "entropy", "baseline"):
        assert len(events.Scalars(f"controller/{name}")) == 2
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert "warm-up" in lines[0]
    for line, record in zip(lines[1:], history[1:], strict=True):     # not "warm-up" after it
        assert f"controller reward {record['controller_reward']:.4f} " \
               f"entropy {record['controller_entropy']:.2f}" in line
