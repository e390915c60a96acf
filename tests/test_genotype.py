"""Genotype files, derive, the standalone network, retraining and random search."""
import json
import random

import pytest
import torch

from recnas.ops.gat import GATOptions
from recnas.data.interactions import load_interactions
from recnas.app.config import RunConfig
from recnas.supernet.discretize import discretize
from recnas.models.genotype import BUILTINS, Genotype, GenotypeError, NodeChoice, builtin, sample
from recnas.supernet.model import ArchWeights, Supernet
from recnas.runtime.errors import TrainingDiverged
from recnas.models.space import SearchSpace
from recnas.models.net import StandaloneNet
from recnas.app.jobs import run

from helpers import (N_ITEMS, N_USERS, Killed, kill_after_save, poison_loss, small_dataset,
                     tiny_graph)


def test_round_trip_through_a_file(tmp_path):
    genotype = Genotype([NodeChoice([[0, "gat"]], "elu"),
                         NodeChoice([[0, "lightgcn"], [1, "sage"]], "identity")], "concat", 32,
                        {"dataset": {"fingerprint": "abc"}})
    genotype.save(tmp_path / "g.json")
    loaded = Genotype.load(tmp_path / "g.json")
    assert loaded == genotype
    assert loaded.describe().splitlines()[1] == "node 2 = identity(lightgcn(node 0) + sage(node 1))"
    for name in BUILTINS:
        assert Genotype.from_dict(builtin(name).to_dict()) == builtin(name)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["nodes"][0]["inputs"].__setitem__(0, [0, "conv9"]), "unknown op 'conv9'"),
    (lambda d: d["nodes"][0]["inputs"].__setitem__(0, [0, "zero"]), "unknown op 'zero'"),
    (lambda d: d["nodes"][1]["inputs"].__setitem__(0, [2, "gcn"]), "inputs must come from earlier"),
    (lambda d: d.__setitem__("version", 99), "schema version 99 is not supported"),
    (lambda d: d.__setitem__("schema", "darts"), "not a recnas genotype"),
    (lambda d: d.__setitem__("aggregation", "max"), "unknown aggregation 'max'"),
    (lambda d: d["nodes"][0].__setitem__("activation", "gelu"), "unknown activation 'gelu'"),
    (lambda d: d["nodes"][0].__setitem__("inputs", []), "non-empty"),
])
def test_bad_genotype_files_fail_clearly(tmp_path, change, message):
    d = builtin("gcn").to_dict()
    change(d)
    assert_refused(tmp_path, d, message)


def assert_refused(tmp_path, d, message):
    """Loading the genotype dict ``d`` from a file fails with ``message`` and names the file."""
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(GenotypeError, match=message) as info:
        Genotype.load(path)
    assert str(path) in str(info.value)


def test_not_json_and_missing_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"schema": ')
    with pytest.raises(GenotypeError, match="not valid JSON"):
        Genotype.load(path)
    with pytest.raises(GenotypeError, match="no such file"):
        Genotype.load(tmp_path / "none.json")


def test_derive_takes_argmax_and_top_k_inputs():
    space = SearchSpace(n_nodes=3)
    alpha = torch.zeros(len(space.edges), len(space.ops))
    alpha[:, space.ops.index("zero")] = 9          # zero is never kept
    alpha[space.edges.index((0, 1)), space.ops.index("gcn")] = 2
    alpha[space.edges.index((1, 2)), space.ops.index("gat")] = 3
    alpha[space.edges.index((0, 2)), space.ops.index("skip")] = 1
    alpha[space.edges.index((2, 3)), space.ops.index("lightgcn")] = 4
    alpha[space.edges.index((0, 3)), space.ops.index("sage")] = 3.5
    acts = torch.zeros(3, len(space.activations))
    acts[1, space.activations.index("tanh")] = 1
    agg = torch.tensor([0.0, 0, 0, 1])
    one = discretize(ArchWeights(alpha, acts, agg), space, 64, inputs_per_node=1)
    assert [n.inputs for n in one.nodes] == [[[0, "gcn"]], [[1, "gat"]], [[2, "lightgcn"]]]
    assert one.nodes[1].activation == "tanh" and one.aggregation == "weighted"
    two = discretize(ArchWeights(alpha, acts, agg), space, 64, inputs_per_node=2)
    assert two.nodes[1].inputs == [[0, "skip"], [1, "gat"]]
    assert two.nodes[2].inputs == [[0, "sage"], [2, "lightgcn"]]


def one_hot_weights(space, genotype):
    ops = torch.zeros(len(space.edges), len(space.ops), dtype=torch.float64)
    ops[:, space.ops.index("zero")] = 1
    for j, node in enumerate(genotype.nodes, 1):
        for i, op in node.inputs:
            e = space.edges.index((i, j))
            ops[e] = 0
            ops[e, space.ops.index(op)] = 1
    acts = torch.zeros(space.n_nodes, len(space.activations), dtype=torch.float64)
    for j, node in enumerate(genotype.nodes):
        acts[j, space.activations.index(node.activation)] = 1
    agg = torch.zeros(len(space.aggregations), dtype=torch.float64)
    agg[space.aggregations.index(genotype.aggregation)] = 1
    return ArchWeights(ops, acts, agg)


@pytest.mark.parametrize("seed", range(6))
def test_standalone_equals_supernet_with_matching_one_hot_alpha(seed):
    graph = tiny_graph()
    space = SearchSpace(n_nodes=3)
    genotype = sample(space, 8, random.Random(seed), inputs_per_node=1 + seed % 2)
    torch.manual_seed(seed)
    supernet = Supernet(N_USERS, N_ITEMS, 8, space, GATOptions(gat_heads=2)).double()
    standalone = StandaloneNet(N_USERS, N_ITEMS, genotype, GATOptions(gat_heads=2)).double()
    # give every kept edge the supernet's weights of that op at that source node
    with torch.no_grad():
        standalone.embedding.copy_(supernet.embedding)
        for j, (node, ops) in enumerate(zip(genotype.nodes, standalone.node_inputs), 1):
            for (i, name), op in zip(node.inputs, ops):
                op.load_state_dict(supernet.edge_ops(i, j)[name].state_dict())
        aggregation = supernet.aggregations[space.aggregations.index(genotype.aggregation)]
        standalone.aggregation.load_state_dict(aggregation.state_dict())
    want = supernet(graph, one_hot_weights(space, genotype))
    assert torch.equal(standalone(graph), want)


def test_lightgcn_genotype_is_exactly_lightgcn():
    graph = tiny_graph()
    model = StandaloneNet(N_USERS, N_ITEMS, builtin("lightgcn", dim=8)).double()
    # LightGCN (He et al. 2020), written out: E_k+1 = D^-1/2 A D^-1/2 E_k, output = mean E_0..E_3
    a = (graph.dense("sym_adj") != 0).double()
    d = a.sum(1)
    norm = torch.where(d > 0, d.clamp_min(1) ** -0.5, torch.zeros_like(d))
    a_hat = norm[:, None] * a * norm[None, :]
    layers = [model.embedding]
    for _ in range(3):
        layers.append(a_hat @ layers[-1])
    want = torch.stack(layers).mean(0)
    torch.testing.assert_close(model(graph), want, rtol=1e-12, atol=1e-12)


def test_mf_genotype_is_the_embedding_table():
    model = StandaloneNet(N_USERS, N_ITEMS, builtin("mf", dim=8))
    assert torch.equal(model(tiny_graph().to(dtype=torch.float32)), model.embedding)


def small_config(tmp_path, **overrides):
    settings = dict(dataset=str(small_dataset(tmp_path / "inter.txt")),
                    out=str(tmp_path / "run"), device="cpu", epochs=30, dim=8, batch_size=32,
                    nodes=2, gat_heads=2, genotype="lightgcn", patience=3, lr=0.01)
    settings.update(overrides)
    mode = settings.pop("mode", "retrain")
    if mode != "retrain":
        settings.pop("genotype")
    return RunConfig.from_flat(mode, **settings)


def test_retrain_early_stopping_restores_the_best_epoch(tmp_path):
    results = run(small_config(tmp_path))
    history = [h for h in results["history"] if "val_recall@20" in h]
    best = max(history, key=lambda h: h["val_recall@20"])
    assert results["epoch"] == best["epoch"]
    assert results["val"]["recall@20"] == best["val_recall@20"]
    assert len(history) < 30                      # stopped early
    assert history[-1]["epoch"] - best["epoch"] == 3   # after `patience` worse evaluations
    assert 0 <= results["test"]["recall@20"] <= 1 and results["refit"] is False
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=False)
    assert saved["genotype"]["nodes"][0]["inputs"] == [[0, "lightgcn"]]


def test_refit_and_genotype_file(tmp_path):
    builtin("sage", dim=8).save(tmp_path / "g.json")
    results = run(small_config(tmp_path, genotype=str(tmp_path / "g.json"), refit=True,
                               epochs=6))
    assert results["refit"] is True and results["genotype"]["nodes"][1]["inputs"] == [[1, "sage"]]


def straight_and_resumed(tmp_path, monkeypatch, stop_after, **settings):
    """Results of a straight run and of a run that dies right after the first checkpoint for
    which ``stop_after(state)`` holds and is then continued with --resume."""
    straight = run(small_config(tmp_path, out=str(tmp_path / "straight"), **settings))
    restore = kill_after_save(monkeypatch, stop_after)
    split = small_config(tmp_path, out=str(tmp_path / "split"), **settings)
    with pytest.raises(Killed):
        run(split)
    restore()
    return straight, run(split, resume=True)


@pytest.mark.parametrize("refit", [False, True])
def test_retrain_resume_equals_straight_run(tmp_path, monkeypatch, refit):
    """The process dies right after a checkpoint (in the selection phase, or in the refit);
    --resume then ends exactly where a straight run ends."""
    stop_in = "refit" if refit else "select"
    straight, resumed = straight_and_resumed(
        tmp_path, monkeypatch,
        lambda state: state["phase"] == stop_in and state["fit"]["progress"]["epoch"] == 2,
        checkpoint_seconds=0, refit=refit, genotype="gat", gat_dropout=0.3)
    for key in ("val", "test", "epoch", "refit"):
        assert resumed[key] == straight[key], key
    assert [h["train_loss"] for h in resumed["history"]] == \
        [h["train_loss"] for h in straight["history"]]
    models = [torch.load(tmp_path / name / "model.pt", weights_only=False)["model"]
              for name in ("straight", "split")]
    assert all(torch.equal(models[0][key], models[1][key]) for key in models[0])


def test_retrain_nan_loss_stops_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    steps_per_epoch = -(-len(load_interactions(small_config(tmp_path).data).train) // 32)
    poison_loss(monkeypatch, after=lambda: steps_per_epoch + 1)
    config = small_config(tmp_path, checkpoint_seconds=0)
    with pytest.raises(TrainingDiverged, match="nan in epoch 2"):
        run(config)
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert saved["phase"] == "select" and saved["fit"]["progress"]["epoch"] == 1


def test_random_search_picks_by_validation(tmp_path):
    results = run(small_config(tmp_path, mode="random_search", trials=3, epochs=4))
    assert len(results["trials"]) == 3 and {t["state"] for t in results["trials"]} == {"complete"}
    assert results["val"]["recall@20"] == max(t["value"] for t in results["trials"])
    assert Genotype.load(tmp_path / "run" / "genotype.json").to_dict()["nodes"] == \
        results["genotype"]["nodes"]


def test_random_search_stops_the_running_trial_when_the_budget_ends(tmp_path):
    """A budget that ends at once: the first trial trains one epoch, not its 4, and no other
    trial starts."""
    results = run(small_config(tmp_path, mode="random_search", budget_seconds=1e-6, epochs=4))
    assert len(results["trials"]) == 1 and results["trials"][0]["epochs_trained"] == 1
    assert results["trials"][0]["stopped"] == "cut by the wall-clock cap"
    assert results["epoch"] == 1                     # the cut trial is all there is: it is kept


def test_random_search_with_sample_settings_trains_each_trial_with_its_own_settings(tmp_path):
    results = run(small_config(tmp_path, mode="random_search", trials=3, epochs=2,
                               sample_settings=True))
    trials = results["trials"]
    assert all(t["hyperparameters"] and t["dim"] in (32, 64, 128) for t in trials)
    best = max(trials, key=lambda t: t["value"])
    assert results["val"]["recall@20"] == best["value"]
    saved = Genotype.load(tmp_path / "run" / "genotype.json")   # retrains with its settings
    assert (saved.dim, saved.hyperparameters) == (best["dim"], best["hyperparameters"])
    bundle = torch.load(tmp_path / "run" / "model.pt", weights_only=False)
    assert bundle["representations"].shape[1] == best["dim"]
    assert bundle["config"]["train"]["lr"] == best["hyperparameters"]["lr"]


def test_random_search_resume_equals_straight_run(tmp_path, monkeypatch):
    """Killed in the second trial's second epoch: the resumed search runs that trial again
    (queued again with its architecture, under a new number), then draws the third trial's
    architecture as the straight run did."""
    from recnas.training import selection
    settings = dict(mode="random_search", trials=3, epochs=4)
    straight = run(small_config(tmp_path, out=str(tmp_path / "straight"), **settings))
    real_fit, calls = selection.fit, []

    def dying_fit(*args, **kwargs):
        calls.append(1)
        report = kwargs["on_validation"]

        def on_validation(epoch, best):
            if len(calls) == 2 and epoch == 2:
                raise Killed
            report(epoch, best)
        return real_fit(*args, **{**kwargs, "on_validation": on_validation})
    monkeypatch.setattr(selection, "fit", dying_fit)
    split = small_config(tmp_path, out=str(tmp_path / "split"), **settings)
    with pytest.raises(Killed):
        run(split)
    monkeypatch.setattr(selection, "fit", real_fit)
    resumed = run(split, resume=True)
    done = [t for t in resumed["trials"] if t["state"] == "complete"]
    assert [t["state"] for t in resumed["trials"]] == ["complete", "fail", "complete", "complete"]
    strip = lambda t: {k: v for k, v in t.items() if k not in ("seconds", "number")}
    assert [strip(t) for t in done] == [strip(t) for t in straight["trials"]]
    for key in ("genotype", "val", "test", "epoch"):
        assert resumed[key] == straight[key], key


def tensorboard_tags(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return events.Tags()["scalars"], events


def test_retraining_and_random_search_write_tensorboard(tmp_path):
    run(small_config(tmp_path, out=str(tmp_path / "retrain"), epochs=4, refit=True))
    scalars, events = tensorboard_tags(tmp_path / "retrain")
    assert {"train_loss", "val_recall@20", "val_ndcg@20", "refit/train_loss"} <= set(scalars)
    assert [e.step for e in events.Scalars("val_recall@20")] == [1, 2, 3, 4]
    run(small_config(tmp_path, out=str(tmp_path / "random"), mode="random_search", trials=2,
                     epochs=2))
    scalars, events = tensorboard_tags(tmp_path / "random")
    assert {"random search trial 0/val_recall@20", "random search trial 1/train_loss"} <= \
        set(scalars)
    assert [e.step for e in events.Scalars("random search trial 1/val_recall@20")] == [1, 2]


@pytest.mark.parametrize("loss", ["softmax", "ccl"])
def test_resume_with_shared_negatives_equals_straight_run(tmp_path, monkeypatch, loss):
    straight, resumed = straight_and_resumed(
        tmp_path, monkeypatch,
        lambda state: state["phase"] == "select" and state["fit"]["progress"]["epoch"] == 2,
        checkpoint_seconds=0, loss=loss, negatives=16, epochs=5)
    for key in ("val", "test", "epoch"):
        assert resumed[key] == straight[key], key
    models = [torch.load(tmp_path / name / "model.pt", weights_only=False)["model"]
              for name in ("straight", "split")]
    assert all(torch.equal(models[0][key], models[1][key]) for key in models[0])


def test_time_limit_stops_the_selection_and_keeps_the_best_epoch(tmp_path):
    results = run(small_config(tmp_path, epochs=30, patience=30, time_limit=1e-9))
    assert [h["epoch"] for h in results["history"]] == [1]      # one epoch, then the limit
    assert results["epoch"] == 1 and results["val"] is not None


# --- schema 2: hyper-parameters travel with the cell -------------------------------------------

def test_schema_2_round_trip_with_hyperparameters(tmp_path):
    genotype = Genotype([NodeChoice([[0, "lightgcn"]], "identity")], "mean", 32,
                        hyperparameters={"lr": 1e-3, "l2": 0.01, "loss": "softmax",
                                         "negatives": 256, "temperature": 2.0})
    genotype.save(tmp_path / "g.json")
    saved = json.loads((tmp_path / "g.json").read_text())
    assert saved["version"] == 2 and saved["hyperparameters"]["temperature"] == 2.0
    assert Genotype.load(tmp_path / "g.json") == genotype


@pytest.mark.parametrize("hyperparameters, message", [
    ({"lr": -1.0}, "'lr' must be > 0"),
    ({"loss": "hinge"}, "'loss' must be one of bpr, softmax, ccl"),
    ({"negatives": 2.5}, "'negatives' must be > 0 \\(int\\)"),
    ({"temperature": "hot"}, "'temperature' must be > 0"),
    ({"momentum": 0.9}, "unknown hyper-parameter 'momentum'"),
    ([1, 2], '"hyperparameters" must be a JSON object'),
])
def test_bad_hyperparameters_fail_clearly(tmp_path, hyperparameters, message):
    d = builtin("lightgcn").to_dict()
    d["hyperparameters"] = hyperparameters
    assert_refused(tmp_path, d, message)


def _config_of(argv):
    import recnas.train as train
    parser = train.build_parser()
    return train.config_from_args(parser.parse_args(argv), parser.given(argv))


def test_a_genotype_files_width_and_hyperparameters_apply_unless_a_flag_sets_them(tmp_path):
    path = tmp_path / "g.json"
    Genotype([NodeChoice([[0, "lightgcn"]], "identity")], "mean", 32,
             hyperparameters={"lr": 1e-3, "l2": 0.02, "temperature": 3.0, "loss": "bpr"}).save(path)
    config = _config_of(["--genotype", str(path)])
    assert (config.train.dim, config.train.lr, config.train.l2, config.train.temperature,
            config.train.loss) == (32, 1e-3, 0.02, 3.0, "bpr")
    config = _config_of(["--genotype", str(path), "--lr=0.01", "--dim", "16", "--loss", "softmax"])
    assert (config.train.dim, config.train.lr, config.train.l2, config.train.loss) == \
        (16, 0.01, 0.02, "softmax")
    # a built-in has no settings of its own: the command line's defaults
    default = _config_of(["--genotype", "lightgcn"])
    assert (default.train.dim, default.train.lr, default.train.loss) == (64, 5e-3, None)


def test_a_version_1_file_still_retrains(tmp_path):
    d = builtin("lightgcn", dim=16).to_dict()
    d["version"] = 1
    del d["hyperparameters"]
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(d))
    data = small_dataset(tmp_path / "ratings.txt")
    config = _config_of(["--genotype", str(path), "--dataset", str(data), "--epochs", "1",
                         "--device", "cpu", "--out", str(tmp_path / "run")])
    results = run(config)
    assert config.train.dim == 16 and results["genotype"]["dim"] == 16
    assert results["genotype"]["version"] == 2 and results["genotype"]["hyperparameters"] == {}


def test_signature_ignores_nodes_the_output_never_reads():
    def cell(*nodes, aggregation="last"):
        return Genotype([NodeChoice([[i, op]], act) for i, op, act in nodes], aggregation)

    derived = cell((0, "lightgcn", "relu"), (0, "lightgcn", "relu"), (0, "lightgcn", "relu"))
    # nodes 1 and 2 feed nothing the output reads: the same network
    unread = cell((0, "gcn", "tanh"), (1, "sage", "elu"), (0, "lightgcn", "relu"))
    assert unread.signature() == derived.signature() == "last[relu(lightgcn(x))]"
    # a change on the path to the output, or an output that reads every node, is another one
    read = cell((0, "gcn", "tanh"), (1, "sage", "elu"), (2, "lightgcn", "relu"))
    assert read.signature() == "last[relu(lightgcn(elu(sage(tanh(gcn(x))))))]"
    mean = cell((0, "gcn", "tanh"), (1, "sage", "elu"), (0, "lightgcn", "relu"),
                aggregation="mean")
    assert mean.signature() != cell((0, "gcn", "relu"), (1, "sage", "elu"), (0, "lightgcn", "relu"),
                                    aggregation="mean").signature()
    names = {builtin(name, 8, 3).signature() for name in BUILTINS}
    assert len(names) == len(BUILTINS) and builtin("mf", 8, 3).signature() == "last[x]"
