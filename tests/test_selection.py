"""Successive halving on planted problems: candidates whose validation score at each epoch count
is known."""
import json

import pytest
import torch

from recnas.training.selection import candidate_epochs, halving_rounds, successive_halving


def planted(final_scores, slow=()):
    """train_to for candidates whose score rises towards final_scores[c] (candidates in ``slow``
    rise later), at no cost in seconds; records every (candidate, epochs) call."""
    calls = []

    def train_to(candidate, epochs):
        calls.append((candidate, epochs))
        rate = 0.02 if candidate in slow else 0.2
        return final_scores[candidate] * min(1.0, rate * epochs), 0.0
    return train_to, calls


def test_keeps_the_best_third_each_round_and_finds_the_winner():
    scores = [0.10, 0.30, 0.25, 0.05, 0.40, 0.20, 0.35, 0.15, 0.01]
    train_to, calls = planted(scores)
    rounds = successive_halving(len(scores), train_to, first_epochs=1, max_epochs=27, eta=3)
    assert [r.epochs for r in rounds] == [1, 3]
    assert rounds[0].kept == [4, 6, 1]           # the three best of nine
    assert rounds[1].kept == [4]                 # the best of those three
    # survivors are trained on, the eliminated ones never again
    assert calls == [(c, 1) for c in range(9)] + [(4, 3), (6, 3), (1, 3)]


def test_halving_with_eta_2_and_the_cap_on_epochs():
    scores = [0.1 * c for c in range(8)]
    train_to, calls = planted(scores)
    rounds = successive_halving(8, train_to, first_epochs=2, max_epochs=5, eta=2)
    assert [r.epochs for r in rounds] == [2, 4, 5]
    assert [r.kept for r in rounds] == [[7, 6, 5, 4], [7, 6], [7]]


def test_a_slow_starter_is_lost_early_as_successive_halving_accepts():
    """The known trade-off: a candidate that only wins late is dropped in the first round."""
    scores = [0.2, 0.5, 0.3]
    rounds = successive_halving(3, planted(scores, slow={1})[0], first_epochs=1, max_epochs=9,
                                eta=3)
    assert rounds[0].kept == [2]


def test_ties_keep_the_earlier_candidate_and_one_candidate_is_scored_once():
    rounds = successive_halving(4, lambda c, e: (0.5, 0.0), first_epochs=1, max_epochs=4, eta=2)
    assert [r.kept for r in rounds] == [[0, 1], [0]]
    train_to, calls = planted([0.3])
    rounds = successive_halving(1, train_to, first_epochs=3, max_epochs=9)
    assert calls == [(0, 3)] and rounds[-1].kept == [0]


def fake_clock(seconds_per_epoch):
    """train_to where an epoch of candidate c costs seconds_per_epoch(c) (summed in clock[0]);
    its score is c / 10. Returns (train_to, clock, reset)."""
    clock, trained = [0.0], {}

    def train_to(candidate, epochs):
        spent = seconds_per_epoch(candidate) * (epochs - trained.get(candidate, 0))
        clock[0] += spent
        trained[candidate] = epochs
        return candidate / 10, spent

    def reset():
        clock[0] = 0.0
        trained.clear()
    return train_to, clock, reset


def test_a_round_that_would_end_past_the_budget_is_shortened_to_fit():
    """An epoch of candidate c costs c + 1 seconds. Round 1 (2 epochs each) costs 20 s; round 2
    would train the best two (3 and 2) 2 more epochs, 7 s an epoch: 14 s. Under 34 s it runs
    whole; under 33 s it gets the one epoch that fits; under 26 s not one fits."""
    train_to, clock, reset = fake_clock(lambda c: c + 1)
    rounds = successive_halving(4, train_to, first_epochs=2, max_epochs=8, eta=2,
                                budget_seconds=34)
    assert [r.epochs for r in rounds] == [2, 4] and rounds[1].kept == [3] and clock[0] == 34
    reset()
    rounds = successive_halving(4, train_to, first_epochs=2, max_epochs=8, eta=2,
                                budget_seconds=33)
    assert [r.epochs for r in rounds] == [2, 3] and rounds[1].kept == [3] and clock[0] == 27
    reset()
    rounds = successive_halving(4, train_to, first_epochs=2, max_epochs=8, eta=2,
                                budget_seconds=26)
    assert [r.epochs for r in rounds] == [2] and rounds[0].kept == [3] and clock[0] == 20


def test_a_budget_keeps_every_halving_and_shares_what_is_left_among_the_rounds():
    """8 candidates, 1 s an epoch, η 2: rounds of 8 x 1, 4 x 2 and 2 x 4 epochs cost 8 + 4 + 4
    = 16 s. Under 14 s the 6 s left after round 1 would give each of the two rounds to come
    3 s, less than an epoch of round 2's four candidates, but one epoch of each round (4 + 2 s)
    fits: round 2 trains 1 more epoch (to 2), round 3 gets the 2 s left (to 3): 8 -> 4 -> 2 ->
    1 as without a budget, within it. Under 13 s only round 1 runs."""
    train_to, clock, reset = fake_clock(lambda c: 1.0)
    for budget, epochs, spent in ((None, [1, 2, 4], 16), (16, [1, 2, 4], 16),
                                  (14, [1, 2, 3], 14), (13, [1], 8)):
        reset()
        rounds = successive_halving(8, train_to, first_epochs=1, max_epochs=8, eta=2,
                                    budget_seconds=budget)
        assert [r.epochs for r in rounds] == epochs and clock[0] == spent
        assert rounds[-1].kept == [7]
        if len(rounds) == 3:
            assert [r.kept for r in rounds[:2]] == [[7, 6, 5, 4], [7, 6]]


def test_cut_first_round_trains_no_candidate_once_the_budget_is_spent():
    """9 candidates, 1 s an epoch, 2 epochs each in round 1 (18 s in full). Under 7 s with the
    cut, round 1 trains candidates 0-3 (8 s: the last one starts at 6 s) and drops the rest,
    the best of them (3) wins though 8 is better; without the cut round 1 runs in full."""
    train_to, clock, reset = fake_clock(lambda c: 1.0)
    rounds = successive_halving(9, train_to, first_epochs=2, max_epochs=18, eta=3,
                                budget_seconds=7, cut_first_round=True)
    assert list(rounds[0].scores) == [0, 1, 2, 3] and clock[0] == 8
    assert len(rounds) == 1 and rounds[0].kept == [3]
    reset()
    rounds = successive_halving(9, train_to, first_epochs=2, max_epochs=18, eta=3,
                                budget_seconds=7)
    assert list(rounds[0].scores) == list(range(9)) and clock[0] == 18 and rounds[-1].kept == [8]
    reset()     # a budget the first round fits: the cut changes nothing
    cut = successive_halving(9, train_to, first_epochs=2, max_epochs=18, eta=3,
                             budget_seconds=40, cut_first_round=True)
    spent = clock[0]
    reset()
    whole = successive_halving(9, train_to, first_epochs=2, max_epochs=18, eta=3,
                               budget_seconds=40)
    assert [(r.epochs, r.kept) for r in cut] == [(r.epochs, r.kept) for r in whole]
    assert spent == clock[0]
    with pytest.raises(ValueError):
        successive_halving(9, train_to, first_epochs=2, max_epochs=18, cut_first_round=True)


def test_halving_down_to_several_survivors():
    scores = [0.10, 0.30, 0.25, 0.05, 0.40, 0.20, 0.35, 0.15, 0.01]
    train_to, calls = planted(scores)
    rounds = successive_halving(9, train_to, first_epochs=1, max_epochs=27, eta=3, survivors=2)
    assert [r.kept for r in rounds] == [[4, 6, 1], [4, 6]]        # 9 -> 3 -> 2, not 1
    rounds = successive_halving(9, planted(scores)[0], first_epochs=1, max_epochs=27, eta=3,
                                survivors=4)
    assert [r.kept for r in rounds] == [[4, 6, 1, 2]]            # never fewer than 4 kept
    rounds = successive_halving(9, planted(scores)[0], first_epochs=1, max_epochs=1, eta=3,
                                survivors=2)
    assert [r.kept for r in rounds] == [[4, 6]]                  # the cap: the best 2 stay
    rounds = successive_halving(2, planted(scores)[0], first_epochs=1, max_epochs=9,
                                survivors=3)
    assert [r.kept for r in rounds] == [[1, 0]]                  # fewer candidates than asked


def test_out_of_budget_the_best_of_the_round_wins():
    scores = [0.1, 0.4, 0.3, 0.2]
    train_to, calls = planted(scores)
    rounds = successive_halving(4, train_to, first_epochs=1, max_epochs=64, eta=2,
                                budget_seconds=0.0)
    assert len(rounds) == 1 and rounds[0].kept == [1]


@pytest.mark.parametrize("bad", [dict(n_candidates=0), dict(first_epochs=0),
                                 dict(max_epochs=0), dict(eta=1), dict(survivors=0)])
def test_bad_settings_are_refused(bad):
    settings = {**dict(n_candidates=2, first_epochs=1, max_epochs=4, eta=2), **bad}
    with pytest.raises(ValueError):
        successive_halving(train_to=lambda c, e: (0.0, 0.0), **settings)


# --- the selection stage on real (tiny) trainings -----------------------------------------------

def _tiny(tmp_path):
    from recnas.data.graph import BipartiteGraph
    from recnas.data.interactions import load_interactions
    from recnas.app.config import RunConfig
    from helpers import small_dataset
    config = RunConfig.from_flat("retrain", dataset=str(small_dataset(tmp_path / "r.txt")),
                                 device="cpu", dim=8, batch_size=64, patience=100, topk=[5])
    data = load_interactions(config.data, 0)
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items)
    return config, data, graph


def test_selection_drops_a_candidate_that_cannot_learn_and_refuses_the_test_split(tmp_path):
    from recnas.models.genotype import builtin
    from recnas.training.selection import select
    config, data, graph = _tiny(tmp_path)
    frozen = builtin("mf", 8)
    frozen.hyperparameters = {"lr": 1e-12}              # stays at its random initialization
    learner = builtin("lightgcn", 8)
    learner.hyperparameters = {"lr": 5e-2, "loss": "bpr"}
    with pytest.raises(ValueError, match="test split"):
        select([frozen, learner], data, graph, config, "cpu", 1, 4, eta=2)
    selection = select([frozen, learner], data.without_test(), graph, config, "cpu",
                       first_epochs=5, max_epochs=20, eta=2)
    assert selection.winner == 1
    assert [r.epochs for r in selection.rounds] == [5]
    assert len(selection.histories[0]) == 5 and len(selection.histories[1]) == 5


def test_survivors_continue_where_they_stopped(tmp_path):
    """A candidate trained to 2 then to 6 epochs in the stage equals one trained to 6 at once."""
    from recnas.models.genotype import builtin
    from recnas.training.selection import select
    config, data, graph = _tiny(tmp_path)
    genotypes = [builtin(name, 8) for name in ("lightgcn", "mf", "gcn", "sage")]
    staged = select(genotypes, data.without_test(), graph, config, "cpu", first_epochs=2,
                    max_epochs=6, eta=2)
    winner = staged.winner
    straight = select([genotypes[winner]], data.without_test(), graph, config, "cpu",
                      first_epochs=4, max_epochs=4)
    assert [r.epochs for r in staged.rounds] == [2, 4]
    assert staged.rounds[-1].scores[winner] == straight.rounds[0].scores[0]
    without_time = lambda history: [{k: v for k, v in h.items() if k != "seconds"}
                                    for h in history]
    assert without_time(staged.histories[winner]) == without_time(straight.histories[0])
    assert len(straight.histories[0]) == 4


def test_a_selection_cut_off_continues_where_it_stopped(tmp_path, monkeypatch):
    """Killed at the start of its 7th epoch (the 4th candidate's 1st of round 1), then run again
    over the same directory, the selection replays the finished trainings, continues the cut
    candidate from its last save and ends as a straight run: same rounds, scores, histories and
    winner's state, and only the 6 epochs done before the kill are not trained again."""
    from recnas.models.genotype import builtin
    import recnas.training.fit as fit_module
    from recnas.training.selection import SelectionStoreError, select
    config, data, graph = _tiny(tmp_path)
    config.retrain.checkpoint_seconds = 0.0                  # fit saves after every epoch
    genotypes = [builtin(name, 8) for name in ("lightgcn", "mf", "gcn", "sage")]
    for genotype, lr in zip(genotypes, (5e-2, 1e-2, 2e-2, 5e-3)):
        genotype.hyperparameters = {"lr": lr}
    data = data.without_test()
    run = lambda store: select(genotypes, data, graph, config, "cpu", first_epochs=2,
                               max_epochs=6, eta=2, store=store)
    epochs, real_epoch = [0], fit_module._epoch

    def counted_epoch(*args, **kwargs):
        epochs[0] += 1
        if epochs[0] == kill_at:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(fit_module, "_epoch", counted_epoch)
    kill_at = None
    straight = run(tmp_path / "straight")
    trained_straight = epochs[0]
    epochs[0], kill_at = 0, 7
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut")
    epochs[0], kill_at = 0, None
    resumed = run(tmp_path / "cut")
    assert epochs[0] == trained_straight - 6
    assert [(r.epochs, r.scores, r.kept) for r in resumed.rounds] == \
        [(r.epochs, r.scores, r.kept) for r in straight.rounds]
    without_time = lambda history: [{k: v for k, v in h.items() if k != "seconds"}
                                    for h in history]
    for candidate, history in straight.histories.items():
        assert without_time(resumed.histories[candidate]) == without_time(history)
    for name, tensor in straight.winner_state["model"].items():
        assert torch.equal(resumed.winner_state["model"][name], tensor)
    calls = json.loads((tmp_path / "cut" / "calls.json").read_text())
    assert resumed.seconds == pytest.approx(sum(c["seconds"] for c in calls))
    assert [(c["candidate"], c["epochs"]) for c in calls] == \
        [(c, r.epochs) for r in straight.rounds for c in r.scores]
    genotypes.reverse()                                   # another pool: refused, not mixed
    with pytest.raises(SelectionStoreError, match="candidate 0 was"):
        run(tmp_path / "cut")


def test_then_select_runs_searches_selection_and_the_winners_retraining(tmp_path, monkeypatch):
    import json
    import recnas.train as train
    from helpers import small_dataset
    from recnas.app import pipeline
    from recnas.models.genotype import Genotype
    seen = []
    real_select = pipeline.selection.select

    def spying_select(genotypes, data, *args, **kwargs):
        seen.append((len(genotypes), len(data.test), len(data.val), args[6]))
        return real_select(genotypes, data, *args, **kwargs)

    monkeypatch.setattr(pipeline.selection, "select", spying_select)
    from recnas.training import retrain
    resumed_at, real_fit = [], retrain.fit

    def spying_fit(*args, resume=None, **kwargs):
        resumed_at.append(None if resume is None else resume["progress"]["epoch"])
        return real_fit(*args, resume=resume, **kwargs)

    monkeypatch.setattr(retrain, "fit", spying_fit)
    out = tmp_path / "run"
    flags = ["--dataset", str(small_dataset(tmp_path / "inter.txt")), "--then-select",
             "--search-seeds", "2", "--alternatives", "1", "--settings-samples", "1",
             "--first-epochs", "1", "--cells-first-epochs", "1", "--max-epochs", "3",
             "--epochs", "2", "--warmup-epochs", "1", "--patience", "1", "--dim", "8", "--nodes", "2", "--gat-heads", "2",
             "--batch-size", "64", "--device", "cpu", "--out", str(out),
             "--selection-ratio", "1000"]     # a budget that shortens no round
    assert train.main(flags) == 0
    # cells: 2 derived cells and a nearest one of each (distinct networks) + 5 built-ins; then
    # the 2 finalists x 2 settings
    (n_cells, test_rows, val_rows, cells_budget), (n_settings, *rows, settings_budget) = seen
    assert test_rows == 0 and val_rows > 0 and rows == [0, val_rows]   # never sees test
    assert 6 <= n_cells <= 9 and n_settings == 2 * 2
    # the budget: 1000 x the two searches' seconds; the cells stage's share is its part of the
    # candidate-epochs: cells n x 1 + 3 x 2 more, settings 4 x 1 + 2 x 2 more
    searched = pipeline.searches_seconds([out, out / "search-seed1"])
    cells_cost, settings_cost = n_cells + 3 * 2, 4 + 2 * 2
    assert searched > 0
    assert cells_budget == pytest.approx(1000 * searched * cells_cost / (cells_cost + settings_cost))
    # the settings stage gets what the cells stage left of the whole budget
    assert 1000 * searched - cells_budget < settings_budget < 1000 * searched
    assert (out / "search-seed1" / "genotype.json").exists()
    for search_dir in (out, out / "search-seed1"):          # the searches never score test
        assert json.loads((search_dir / "results.json").read_text())["test"] is None
    record = json.loads((out / "selection" / "selection.json").read_text())
    cells, settings = record["stages"]
    assert [r["epochs"] for r in cells["rounds"]] == [1, 3][:len(cells["rounds"])]
    finalists = [cells["candidates"][c]["short"] for c in cells["rounds"][-1]["kept"]]
    last_round = cells["rounds"][-1]["scores"]                # the finalists: its best two
    best_two = sorted(last_round, key=lambda c: -last_round[c])[:2]
    assert finalists == [cells["candidates"][int(c)]["short"] for c in best_two]
    assert [c["short"] for c in settings["candidates"]] == [f for f in finalists for _ in "ab"]
    assert all(c["hyperparameters"] == {} for c in cells["candidates"])
    signatures = [Genotype.from_dict(c).signature() for c in cells["candidates"]]
    assert len(set(signatures)) == len(signatures)                 # each network once
    assert [bool(c["hyperparameters"]) for c in settings["candidates"]] == [False, True] * 2
    winner = record["winner"]
    assert winner["short"] in finalists
    results = json.loads((out / "retrain" / "results.json").read_text())
    assert results["genotype"]["nodes"] == winner["nodes"]
    retrain_config = json.loads((out / "retrain" / "config.json").read_text())
    assert retrain_config["train"]["dim"] == winner["dim"]
    for name, value in winner["hyperparameters"].items():
        assert retrain_config["train"][name] == value
    assert results["test"] is not None                    # scored once, at the very end
    # the retraining continued the winner's selection epochs: it equals a fresh retraining of the
    # winner's genotype file (same seed, weights and batches)
    last_round = settings["rounds"][-1]["epochs"]
    assert resumed_at == [len(results["history"][:last_round])] and resumed_at[0] >= 1
    fresh_dir = tmp_path / "fresh"
    assert train.main(["--dataset", flags[1], "--genotype", str(out / "selection" / "genotype.json"),
                       "--patience", "1", "--gat-heads", "2", "--batch-size", "64",
                       "--device", "cpu", "--out", str(fresh_dir)]) == 0
    fresh = json.loads((fresh_dir / "results.json").read_text())
    without_time = lambda history: [{k: v for k, v in h.items() if k != "seconds"}
                                    for h in history]
    assert without_time(results["history"]) == without_time(fresh["history"])
    assert (results["epoch"], results["val"], results["test"]) == \
        (fresh["epoch"], fresh["val"], fresh["test"])


def test_the_rounds_halving_plans_and_their_cost():
    """The default selection's two stages on ml-100k: 8 cells from 15 epochs down to 2
    finalists; 2 x 9 settings from 5 epochs down to one winner."""
    assert halving_rounds(8, 15, 45, 3, survivors=2) == [(8, 15), (3, 45)]
    assert candidate_epochs(halving_rounds(8, 15, 45, 3, 2)) == [120, 90]
    assert halving_rounds(18, 5, 45, 3) == [(18, 5), (6, 15), (2, 45)]
    assert candidate_epochs(halving_rounds(18, 5, 45, 3)) == [90, 60, 60]
    assert candidate_epochs([(6, 15), (2, 45)], trained=5) == [60, 60]
    assert halving_rounds(9, 1, 27, 3) == [(9, 1), (3, 3)]
    assert halving_rounds(1, 50, 45, 3) == [(1, 45)]


def test_then_select_cut_off_in_its_selection_resumes_to_the_same_end(tmp_path, monkeypatch):
    """`train.py --then-select` killed as the settings stage starts its third training, then
    `--resume RUN_DIR`: the searches are done, the cells stage is replayed, the settings stage
    continues, and the winner, its retraining and test equal those of a run never cut off."""
    import recnas.train as train
    from helpers import small_dataset
    from recnas.training import selection
    dataset = str(small_dataset(tmp_path / "inter.txt"))
    flags = lambda out: ["--dataset", dataset, "--then-select", "--alternatives", "1",
                         "--settings-samples", "2", "--first-epochs", "1",
                         "--cells-first-epochs", "1", "--max-epochs", "3", "--epochs", "2",
                         "--warmup-epochs", "1", "--patience", "1", "--dim", "8", "--nodes", "2",
                         "--gat-heads", "2", "--batch-size", "64", "--device", "cpu",
                         "--out", str(out), "--selection-ratio", "1000"]
    assert train.main(flags(tmp_path / "straight")) == 0
    trainings, real_fit = [], selection.fit

    def killing_fit(*args, label="", **kwargs):
        trainings.append(label)
        if sum(label.startswith("settings") for label in trainings) == 3:
            raise KeyboardInterrupt
        return real_fit(*args, label=label, **kwargs)

    monkeypatch.setattr(selection, "fit", killing_fit)
    with pytest.raises(KeyboardInterrupt):
        train.main(flags(tmp_path / "cut"))
    assert not (tmp_path / "cut" / "selection" / "selection.json").exists()
    trainings.clear()
    monkeypatch.setattr(selection, "fit", lambda *args, label="", **kwargs: (
        trainings.append(label), real_fit(*args, label=label, **kwargs))[1])
    assert train.main(["--resume", str(tmp_path / "cut")]) == 0
    calls = json.loads((tmp_path / "cut" / "selection" / "settings" / "calls.json").read_text())
    assert not any(label.startswith("cells") for label in trainings)    # replayed, not trained
    assert len(trainings) == len(calls) - 2                 # the settings' first two: replayed
    without_seconds = lambda record: [{k: v for k, v in stage.items() if k != "seconds"}
                                      for stage in record["stages"]] + [record["winner"]]
    read = lambda run, name: json.loads((tmp_path / run / name).read_text())
    assert without_seconds(read("cut", "selection/selection.json")) == \
        without_seconds(read("straight", "selection/selection.json"))
    cut, straight = read("cut", "retrain/results.json"), read("straight", "retrain/results.json")
    assert (cut["epoch"], cut["val"], cut["test"]) == \
        (straight["epoch"], straight["val"], straight["test"])
    assert not list((tmp_path / "cut" / "selection").glob("*/candidate-*.pt"))   # cleaned up
