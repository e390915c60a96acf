"""Odd input and odd runs end in a clear answer, never a hang, a traceback or a silent wrong
result: one test per failure found on the old layout (the eighth, CPU determinism, is in
test_determinism.py)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import recnas.train as train
from recnas.ops.gat import GATOptions
from recnas.evaluation.metrics import RankingEvaluator, score_test
from recnas.runtime import checkpoint
from recnas.app.config import RunConfig
from recnas.runtime.errors import ConfigError, UserError, exit_status
from recnas.app.jobs import run
from recnas.supernet.derive import derive
from recnas.models.genotype import GenotypeError
from recnas.supernet.model import Supernet
from recnas.models.space import SearchSpace
from recnas.supernet.strategies.darts import gumbel_tau
from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import load_interactions

from helpers import small_dataset

ROOT = Path(__file__).resolve().parent.parent


def config(tmp_path, mode="search", out="run", **overrides):
    settings = dict(dataset=str(small_dataset(tmp_path / "inter.txt")), out=str(tmp_path / out),
                    device="cpu", epochs=2, dim=8, batch_size=32, warmup_epochs=1, nodes=2,
                    gat_heads=2, patience=3)
    if mode == "retrain":
        settings["genotype"] = "lightgcn"
    settings.update(overrides)
    return RunConfig.from_flat(mode, **settings)


def one_line_error(proc):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip()


# 1. derive.py on a run directory that is not a search
@pytest.mark.parametrize("mode", ["retrain", "random_search"])
def test_derive_on_another_kind_of_run_is_one_line(tmp_path, mode):
    run(config(tmp_path, mode, trials=1))
    proc = subprocess.run([sys.executable, str(ROOT / "derive.py"), str(tmp_path / "run")],
                          capture_output=True, text=True)
    message = one_line_error(proc)
    expected = "expected one of a supernet search" if mode == "retrain" else \
        "derive.py needs a search run directory"   # a random search keeps its trials in a study
    assert expected in message and "\n" not in message


def test_checkpoint_kind_and_version_are_checked(tmp_path):
    checkpoint.save(tmp_path, "retrain", phase="select")
    with pytest.raises(checkpoint.CheckpointError, match="the checkpoint of a retraining"):
        checkpoint.load(tmp_path, "search")
    torch.save({"epoch": 3}, tmp_path / checkpoint.CHECKPOINT)     # the old, unmarked format
    with pytest.raises(checkpoint.CheckpointError, match="older recnas"):
        checkpoint.load(tmp_path, "retrain")
    checkpoint.save(tmp_path, "search")
    state = torch.load(tmp_path / checkpoint.CHECKPOINT, weights_only=False)
    torch.save({**state, "version": 99}, tmp_path / checkpoint.CHECKPOINT)
    with pytest.raises(checkpoint.CheckpointError, match="version 99"):
        checkpoint.load(tmp_path, "search")


# 2. --val-fraction 0
def test_search_without_validation_refuses_at_once(tmp_path):
    with pytest.raises(ConfigError, match="validation split is empty"):
        run(config(tmp_path, val_fraction=0.0))
    assert not (tmp_path / "run" / checkpoint.CHECKPOINT).exists()


def test_unknown_op_weights_in_a_config_file_is_one_line(tmp_path):
    bad = config(tmp_path).to_dict()
    bad["search"]["op_weights"] = "shared"            # a config.json edited by hand
    with pytest.raises(ConfigError, match="op_weights must be one of edge, node, not 'shared'"):
        run(RunConfig.from_dict(bad))
    assert not (tmp_path / "run" / checkpoint.CHECKPOINT).exists()


def test_retrain_without_validation_trains_every_epoch(tmp_path):
    results = run(config(tmp_path, "retrain", val_fraction=0.0, epochs=4))
    assert results["epoch"] == 4 and results["val"] is None
    assert [h["epoch"] for h in results["history"]] == [1, 2, 3, 4]
    assert 0 <= results["test"]["recall@20"] <= 1
    with pytest.raises(ConfigError, match="--refit needs a validation split"):
        run(config(tmp_path, "retrain", out="refit", val_fraction=0.0, refit=True))
    with pytest.raises(ConfigError, match="validation split is empty"):
        run(config(tmp_path, "random_search", out="random", val_fraction=0.0, trials=1))
    assert not (tmp_path / "random").exists()


# 3. --epochs 0 evaluates the untrained model in every mode
@pytest.mark.parametrize("mode", ["search", "retrain", "random_search"])
def test_epochs_zero_evaluates_the_untrained_model(tmp_path, mode):
    results = run(config(tmp_path, mode, epochs=0, trials=2))
    assert results["val"]["users"] > 0 and 0 <= results["val"]["recall@20"] <= 1
    assert results["history"] == [] if mode != "random_search" else len(results["trials"]) == 2
    if mode != "search":
        assert results["epoch"] == 0


# 4. a search scores test as retraining does: test-only users ranked by popularity
def test_search_scores_test_only_users_by_popularity(tmp_path):
    rng = np.random.default_rng(0)
    train_rows = [(u, i) for u in range(30) for i in rng.choice(40, 8, replace=False)]
    test_rows = [(u, i) for u in range(30) for i in rng.choice(40, 2, replace=False)]
    popular = np.bincount([i for _, i in train_rows]).argsort()[::-1][:2]
    test_rows += [(99, int(i)) for i in popular]              # user 99 is in test only
    for name, rows in (("train.txt", train_rows), ("test.txt", test_rows)):
        (tmp_path / name).write_text("".join(f"{u}\t{i}\n" for u, i in rows))
    config_ = RunConfig.from_flat("search", dataset=str(tmp_path / "train.txt"),
                                  test_file=str(tmp_path / "test.txt"), out=str(tmp_path / "run"),
                                  device="cpu", epochs=1, dim=8, batch_size=32, nodes=2,
                                  gat_heads=2, format="rows")
    results = run(config_)
    data = load_interactions(config_.data, config_.seed)
    model = Supernet(data.n_users, data.n_items, 8, SearchSpace(n_nodes=2), GATOptions(gat_heads=2))
    model.load_state_dict(checkpoint.load(tmp_path / "run", "search")["model"])
    model.eval()
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items)
    with torch.no_grad():
        reps = model(graph, model.arch_weights("darts"))
    assert results["test"] == score_test(reps, data, config_, "cpu")
    cold = data.user_ids.tolist().index("99")
    only_cold = RankingEvaluator(data.test[data.test[:, 0] == cold], [data.train, data.val],
                                 data.n_users, data.n_items)
    model_recall = only_cold(reps[:data.n_users], reps[data.n_users:])["recall@20"]
    users = results["test"]["users"]
    without = RankingEvaluator(data.test, [data.train, data.val], data.n_users, data.n_items)(
        reps[:data.n_users], reps[data.n_users:])
    # the popular list finds both of user 99's items; the untrained vector would not
    assert results["test"]["recall@20"] * users == pytest.approx(
        without["recall@20"] * users - model_recall + 1.0)


# 5. GDAS's temperature does not depend on --epochs
def test_gdas_extended_with_resume_equals_a_straight_run(tmp_path):
    run(config(tmp_path, out="split", strategy="gdas", epochs=2))
    extended = RunConfig.from_dict(json.loads((tmp_path / "split" / "config.json").read_text()))
    extended.epochs = 4
    resumed = run(extended, resume=True)
    straight = run(config(tmp_path, out="straight", strategy="gdas", epochs=4, tau_epochs=2))
    assert [h["tau"] for h in resumed["history"]] == [h["tau"] for h in straight["history"]] \
        == [10.0, 0.1, 0.1, 0.1]
    a, b = (checkpoint.load(tmp_path / name, "search")["model"] for name in ("split", "straight"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_gumbel_tau_anneals_over_tau_epochs_only():
    c = RunConfig.from_flat("search", epochs=5).search
    assert [gumbel_tau(c, e) for e in range(5)] == pytest.approx([10, 7.525, 5.05, 2.575, 0.1])
    c.epochs = 50
    assert gumbel_tau(c, 4) == pytest.approx(0.1) and gumbel_tau(c, 40) == pytest.approx(0.1)


# 6. the dataset fingerprint is checked
def test_genotype_searched_on_another_split_is_refused(tmp_path):
    run(config(tmp_path, epochs=1))
    derive(tmp_path / "run")
    other_split = config(tmp_path, "retrain", out="retrain", seed=1,
                         genotype=str(tmp_path / "run" / "genotype.json"))
    with pytest.raises(GenotypeError, match="fingerprint"):
        run(other_split)
    other_split.retrain.ignore_fingerprint = True
    assert run(other_split)["epoch"] >= 1
    same_split = config(tmp_path, "retrain", out="same",
                        genotype=str(tmp_path / "run" / "genotype.json"))
    assert run(same_split)["epoch"] >= 1


def test_resume_on_changed_data_is_refused(tmp_path):
    first = config(tmp_path, epochs=1)
    run(first)
    small_dataset(tmp_path / "inter.txt", seed=5)              # the file changes under the run
    first.epochs = 2
    with pytest.raises(checkpoint.CheckpointError, match="other data"):
        run(first, resume=True)


# 7. only user errors lose their traceback
def test_internal_errors_keep_their_traceback(monkeypatch):
    def bug():
        raise ValueError("an internal bug")

    with pytest.raises(ValueError, match="an internal bug"):
        exit_status(bug)
    assert exit_status(lambda: (_ for _ in ()).throw(UserError("bad flag"))) == 2


def test_cli_internal_error_is_a_traceback(tmp_path, monkeypatch, capsys):
    def broken_run(config, resume=False):
        raise ValueError("internal")

    monkeypatch.setattr(train, "run", broken_run)
    with pytest.raises(ValueError, match="internal"):
        train.main(["--out", str(tmp_path / "run"), "--device", "cpu"])


def test_run_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run(config(tmp_path, "retrain", epochs=1))
    finally:
        os.umask(old)
    for name in ("config.json", "results.json", "model.pt", "checkpoint.pt"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name
