"""Search runs: resume equals a straight run (also after SIGKILL), NaN stops cleanly,
TensorBoard holds the alpha scalars and heat map, and a planted problem is solved."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from recnas.app.config import RunConfig
from recnas.runtime.errors import ConfigError, TrainingDiverged
from recnas.app.jobs import run

from helpers import Killed, kill_after_save, poison_loss, small_dataset

ROOT = Path(__file__).resolve().parent.parent


def small_config(tmp_path, out="run", **overrides):
    settings = dict(dataset=str(small_dataset(tmp_path / "inter.txt")),
                    out=str(tmp_path / out), device="cpu", epochs=4, dim=8, batch_size=32,
                    warmup_epochs=1, nodes=2, gat_heads=2)
    settings.update(overrides)
    return RunConfig.from_flat("search", **settings)


def checkpoint_of(run_dir):
    return torch.load(Path(run_dir) / "checkpoint.pt", weights_only=False)


def assert_same_state(a, b):
    assert a["epoch"] == b["epoch"]
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


@pytest.mark.parametrize("strategy, paths", [("darts", False), ("gdas", False),
                                             ("darts", True)])
def test_resume_equals_straight_run(tmp_path, monkeypatch, strategy, paths):
    settings = dict(strategy=strategy, warmup_paths=paths, warmup_epochs=3 if paths else 1)
    run(small_config(tmp_path, "straight", **settings))
    restore = kill_after_save(monkeypatch, lambda state: state["epoch"] == 2)
    with pytest.raises(Killed):
        run(small_config(tmp_path, "split", **settings))
    restore()
    resumed = run(small_config(tmp_path, "split", **settings), resume=True)
    assert_same_state(checkpoint_of(tmp_path / "straight"), checkpoint_of(tmp_path / "split"))
    straight = json.loads((tmp_path / "straight" / "results.json").read_text())
    assert straight["genotype"] == resumed["genotype"]
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4]
    # the search's seconds add up over the resume (the selection's budget is a multiple of them)
    seconds = [h["seconds"] for h in resumed["history"]]
    assert seconds == sorted(seconds)
    assert seconds[-1] >= sum(h["train_seconds"] for h in resumed["history"])


def test_two_epochs_then_resume_for_two_more_equals_four(tmp_path):
    run(small_config(tmp_path, "straight"))
    run(small_config(tmp_path, "split", epochs=2))
    run(small_config(tmp_path, "split", epochs=4), resume=True)
    assert_same_state(checkpoint_of(tmp_path / "straight"), checkpoint_of(tmp_path / "split"))


def test_new_run_refuses_a_directory_with_a_checkpoint(tmp_path):
    run(small_config(tmp_path, epochs=1))
    with pytest.raises(ConfigError, match="already holds a run"):
        run(small_config(tmp_path, epochs=1))


def test_nan_loss_stops_cleanly_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    config = small_config(tmp_path, epochs=3)
    poison_after = 10 ** 9
    calls = poison_loss(monkeypatch, after=lambda: poison_after)
    run(small_config(tmp_path, "probe", epochs=1))
    poison_after = calls["n"] + 2          # first epoch fine, NaN early in the second
    calls["n"] = 0
    with pytest.raises(TrainingDiverged, match=r"nan in epoch 2.*checkpoint of epoch 1"):
        run(config)
    assert checkpoint_of(config.out)["epoch"] == 1
    assert not list(Path(config.out).glob(".*.tmp"))


def test_tensorboard_holds_alpha_scalars_and_heat_map(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    config = small_config(tmp_path, epochs=2)
    run(config)
    events = EventAccumulator(str(Path(config.out) / "tensorboard"),
                              size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    tags = events.Tags()
    assert "alpha/0->1/lightgcn" in tags["scalars"] and "entropy/1->2" in tags["scalars"]
    assert "activation/node1/relu" in tags["scalars"] and "aggregation/mean" in tags["scalars"]
    assert "loss/train" in tags["scalars"] and "val/recall@20" in tags["scalars"]
    values = [s.value for s in events.Scalars("alpha/0->1/gcn")]
    assert len(values) == 2 and all(0 < v < 1 for v in values)
    assert "alpha/heat_map" in tags["images"]
    assert len(events.Images("alpha/heat_map")) == 2
    assert any(t.startswith("architecture") for t in tags["tensors"])


def cli(*args):
    return [sys.executable, str(ROOT / "train.py"), *args]


def test_resume_after_sigkill_equals_straight_run(tmp_path):
    data = small_dataset(tmp_path / "inter.txt", n_users=80, n_items=50)
    flags = ["--dataset", str(data), "--epochs", "5", "--dim", "8", "--batch-size", "16",
             "--warmup-epochs", "1", "--nodes", "2", "--gat-heads", "2", "--device", "cpu"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(cli(*flags, "--out", str(straight)), check=True, capture_output=True)
    proc = subprocess.Popen(cli(*flags, "--out", str(killed)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)                              # into a later epoch, or a checkpoint write
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert checkpoint_of(killed)["epoch"] < 5, "the run finished before it was killed"
    subprocess.run(cli("--resume", str(killed)), check=True, capture_output=True)
    assert_same_state(checkpoint_of(straight), checkpoint_of(killed))


def planted_communities(path, n_users=120, n_items=90, communities=6, per_user=10, seed=0):
    """Each user interacts with items of its own community only, so held-out items are reached
    by propagating over the training graph and never by an embedding that sees no neighbours."""
    rng = np.random.default_rng(seed)
    user_community = rng.integers(0, communities, n_users)
    item_community = np.arange(n_items) % communities
    lines = [f"{u} {i}" for u in range(n_users) for i in rng.choice(
        np.flatnonzero(item_community == user_community[u]), size=per_user, replace=False)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_problem_gives_propagation_the_largest_alpha(tmp_path, seed):
    data = planted_communities(tmp_path / "planted.txt")
    config = RunConfig.from_flat("search", dataset=str(data), val_fraction=0.3,
                                 out=str(tmp_path / "run"), device="cpu", seed=seed, epochs=8,
                                 dim=16, batch_size=64, warmup_epochs=2, nodes=2, arch_lr=3e-3,
                                 ops=["lightgcn", "skip", "zero"])
    results = run(config)
    alpha = np.array(results["alpha"]["op_weights"])     # edges x (lightgcn, skip, zero)
    assert np.all(alpha[:, 0] > alpha[:, 1] + 0.01) and np.all(alpha[:, 0] > alpha[:, 2])
    assert all(op == "lightgcn" for node in results["genotype"]["nodes"] for _, op in node["inputs"])
