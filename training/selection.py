"""Successive halving (the inner loop of Hyperband; Jamieson & Talwalkar 2016, Li et al. 2017):
train every candidate a few epochs, keep the best 1/η by validation, train the survivors η times
longer, and so on until one is left (or ``survivors``) or the epochs reach their cap. Candidates
continue from where they stopped, so a survivor's epochs are never trained twice.

``successive_halving`` only sees ``train_to(candidate, epochs) -> (validation score, seconds)``;
``select`` runs it over standalone trainings of genotypes, each with its own hyper-parameters
(schema 2), and keeps what each training reached in a directory, so that a selection cut off
continues where it stopped."""
import copy
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from recnas.runtime import distributed
from recnas.runtime.errors import UserError
from recnas.runtime.options import option
from recnas.runtime.files import save_torch, write_json
from recnas.runtime.progress import format_seconds, log
from recnas.training.fit import fit
from recnas.training.retrain import new_model, validation_evaluator


@dataclass
class SelectConfig:
    """The selection stage after a search (train.py --then-select), in two successive halvings
    (each trains its candidates a first round, keeps the best 1/``eta``, trains those ``eta``
    times longer, ... up to ``max_epochs``): the cells derived by ``search_seeds`` searches, their
    ``alternatives`` nearest cells and the built-in genotypes, with the run's training settings,
    from ``cells_first_epochs`` down to ``finalists`` cells; then those cells, each with the
    run's settings and ``settings_samples`` random ones, from ``first_epochs`` down to the
    winner. A first round longer than ``max_epochs`` is cut to it.

    The wall budget of both halvings: ``selection_seconds``, or else ``selection_ratio`` times
    the searches' seconds (so it grows with the data; 0: no budget). The halvings keep their
    rounds and shorten them to fit (``successive_halving``); a first round runs in full, past
    the budget if it must, unless ``cut_first_round`` (benchmarks/quality.py's tuned built-ins:
    a budget that is another job's wall time must not be overrun)."""
    search_seeds: int = option(1, "--then-select: searches, seeds --seed, --seed + 1, ...")
    alternatives: int = option(2, "--then-select: nearest cells of each derived cell, by α")
    finalists: int = option(2, "--then-select: cells that go on from the selection with the "
                               "run's settings to the selection of settings")
    settings_samples: int = option(8, "--then-select: random training settings per finalist "
                                      "cell, besides the run's")
    cells_first_epochs: int = option(15, "--then-select: epochs of the first round among cells")
    first_epochs: int = option(5, "--then-select: epochs of the first round among settings")
    eta: int = option(3, "--then-select: each round keeps 1/eta of the candidates and trains "
                         "them eta times longer")
    max_epochs: int = option(45, "--then-select: epochs of the last round at most")
    selection_seconds: Optional[float] = option(
        None, "--then-select: wall budget of the selection; its rounds are shortened to fit",
        default_help="--selection-ratio times the searches' seconds")
    selection_ratio: float = option(2.5, "--then-select: without --selection-seconds, the "
                                         "selection's budget as a multiple of the searches' "
                                         "seconds; 0: no budget")
    cut_first_round: bool = option(False, "budgets the first round too", cli=False)


@dataclass
class Round:
    epochs: int                       # every candidate of the round is trained to this many
    scores: dict = field(default_factory=dict)   # candidate index -> validation score
    kept: List[int] = field(default_factory=list)


def halving_rounds(n_candidates, first_epochs, max_epochs, eta=3, survivors=1):
    """The rounds successive halving runs when no budget cuts them: [(candidates, epochs)]."""
    rounds, n, epochs = [], n_candidates, first_epochs
    while True:
        last = epochs >= max_epochs
        rounds.append((n, min(epochs, max_epochs)))
        n = min(n, max(survivors, math.ceil(n / eta)))
        if last or n <= survivors:
            return rounds
        epochs *= eta


def candidate_epochs(rounds, trained=0):
    """Epochs that ``rounds`` (from halving_rounds) train in all, per round, when their
    candidates have ``trained`` epochs already: a proxy of each round's cost."""
    done, cost = trained, []
    for n, epochs in rounds:
        cost.append(n * (epochs - done))
        done = epochs
    return cost


def successive_halving(n_candidates: int, train_to: Callable[[int, int], Tuple[float, float]],
                       first_epochs: int, max_epochs: int, eta: int = 3,
                       budget_seconds: Optional[float] = None,
                       survivors: int = 1, cut_first_round: bool = False) -> Sequence[Round]:
    """Rounds of successive halving over candidates 0..n-1; the last round's ``kept`` are the
    best ``survivors`` (``kept[0]``: the winner; a single candidate is still trained and scored
    once). ``train_to(candidate, epochs)`` trains a candidate on to ``epochs`` and returns its
    validation score and the seconds that took. Round r trains the survivors to
    ``first_epochs · η^r`` epochs (the last round, and a first round longer than that, to
    ``max_epochs``) and keeps the best ⌈n_r / η⌉, never fewer than ``survivors``. Ties keep the
    earlier candidate.

    With ``budget_seconds`` the halving keeps all its rounds but shortens them to fit (as
    Karnin et al. 2013's sequential halving splits a fixed budget among its rounds): what is
    left of the budget is shared among the rounds still to come by their candidate-epochs, and
    a round gets the epochs that fit its share at its survivors' seconds per epoch so far (at
    least one more when one epoch of every round to come fits what is left). When not even that
    fits, the best of the last round win. The first round runs in full, unless
    ``cut_first_round``: then it trains no more candidates once the budget is spent, and those
    it did not train are dropped (a hard budget, but for the last candidate's training). The
    time spent is the sum of the seconds ``train_to`` reported, so a selection that replays the
    calls of a run cut off (``select``'s directory) spends its budget as that run did."""
    if n_candidates < 1 or min(first_epochs, max_epochs, survivors) < 1 or eta < 2:
        raise ValueError("need candidates, first_epochs, max_epochs, survivors >= 1 and "
                         "eta >= 2")
    if cut_first_round and budget_seconds is None:
        raise ValueError("cut_first_round needs budget_seconds")
    alive, epochs, rounds = list(range(n_candidates)), min(first_epochs, max_epochs), []
    seconds = {}                                # candidate -> seconds spent training it
    while True:
        round_ = Round(epochs)
        for candidate in alive:
            if cut_first_round and not rounds and distributed.agree(
                    sum(seconds.values()) >= budget_seconds):
                break
            round_.scores[candidate], spent = train_to(candidate, epochs)
            seconds[candidate] = seconds.get(candidate, 0.0) + spent
        # stable: ties keep the order of training
        ranked = sorted(round_.scores, key=lambda c: -round_.scores[c])
        kept = ranked[:max(survivors, math.ceil(len(ranked) / eta))]
        next_epochs = min(epochs * eta, max_epochs)
        if epochs < max_epochs and len(kept) > survivors and budget_seconds is not None:
            next_epochs = distributed.agree(_epochs_that_fit(
                budget_seconds - sum(seconds.values()), [seconds[c] for c in kept],
                epochs, next_epochs, max_epochs, eta, survivors))
        round_.kept = kept if epochs < max_epochs and next_epochs > epochs else \
            ranked[:survivors]
        rounds.append(round_)
        if len(round_.kept) <= survivors:
            return rounds
        alive, epochs = round_.kept, next_epochs


def _epochs_that_fit(left, kept_seconds, trained, next_epochs, max_epochs, eta, survivors):
    """The epochs of the next round (at most ``next_epochs``) that fit ``left`` seconds of the
    budget; ``trained`` (the survivors' epochs so far) when not one more fits. ``kept_seconds``:
    each survivor's seconds for its ``trained`` epochs."""
    if left <= 0:
        return trained
    plan = halving_rounds(len(kept_seconds), next_epochs, max_epochs, eta, survivors)
    to_come = candidate_epochs(plan, trained)
    one_epoch = sum(kept_seconds) / trained                 # every survivor, one more epoch
    if one_epoch == 0:                                      # training that costs nothing
        return next_epochs
    fits = math.floor(left * to_come[0] / sum(to_come) / one_epoch)
    if fits < 1 and left >= one_epoch / len(kept_seconds) * sum(n for n, _ in plan):
        fits = 1                                            # one epoch of each round fits
    return min(next_epochs, trained + fits)


class SelectionStoreError(UserError):
    pass


@dataclass
class Selection:
    """What the selection stage found: the winner, every round, each candidate's history, and
    the winner's training state (``fit``'s resume state: the final retraining continues it)."""
    winner: int
    rounds: Sequence[Round]           # rounds[-1].kept: the winner and the other survivors
    histories: dict                   # candidate index -> per-epoch records of its training
    winner_state: Optional[dict] = None
    seconds: float = 0.0              # the candidates' training, summed over resumed runs


def candidate_config(config, genotype):
    """The run's config with a candidate's width and hyper-parameters (schema-2 genotype)."""
    return replace(config, train=replace(config.train, dim=genotype.dim,
                                         **genotype.hyperparameters))


def select(genotypes, data, graph, config, device, first_epochs, max_epochs, eta=3,
           budget_seconds=None, writer=None, survivors=1, stage="selection", store=None,
           cut_first_round=False):
    """Successive halving over standalone trainings of ``genotypes`` (each with its own
    hyper-parameters), scored by validation Recall@K with early stopping inside each training,
    until ``survivors`` are left. ``data`` must come without its test split (``without_test``):
    the stage cannot read it. ``stage`` names it in the log and TensorBoard tags.

    ``store``: a directory where the stage keeps each candidate's training state (written as
    ``fit`` saves it: every ``checkpoint_seconds`` and when a round's training ends) and the
    rounds' calls (candidate, epochs, score, seconds). Run again over the same directory, the
    stage replays the calls it finds and continues each candidate from its state: a selection
    cut off ends as it would have, its budget counted over both runs. ``cut_first_round``: as
    in ``successive_halving``."""
    if len(data.test):
        raise ValueError("the selection stage must not see the test split: pass "
                         "data.without_test()")
    evaluator = validation_evaluator(data, config, device)
    if evaluator is None:
        raise ValueError("the selection stage needs a validation split")
    store = None if store is None else Path(store)
    calls = json.loads((store / "calls.json").read_text()) \
        if store is not None and (store / "calls.json").exists() else []
    if calls:
        log.info(f"{stage}: continuing the {len(calls)} trainings done in {store}")
    states, models, histories, k = {}, {}, {}, config.topk[0]

    def describe(candidate):
        genotype = genotypes[candidate]
        return f"{genotype.short()} dim {genotype.dim} " + json.dumps(genotype.hyperparameters,
                                                                     sort_keys=True)

    def state_of(candidate):
        path = None if store is None else store / f"candidate-{candidate}.pt"
        if candidate not in states and path is not None and path.exists():
            states[candidate] = torch.load(path, map_location=device, weights_only=False)
        return states.get(candidate)

    def keep(candidate, state):
        states[candidate] = copy.deepcopy(state)
        if store is not None:
            save_torch(store / f"candidate-{candidate}.pt", state)

    def train_to(candidate, epochs):
        done = [c for c in calls if c["candidate"] == candidate]
        if done and done[-1]["genotype"] != describe(candidate):
            raise SelectionStoreError(f"{store / 'calls.json'}: candidate {candidate} was "
                                      f"{done[-1]['genotype']}, now {describe(candidate)}; the "
                                      "run's settings changed: start the selection anew "
                                      f"(remove {store})")
        replayed = [c for c in done if c["epochs"] == epochs]   # trained in the run cut off
        if replayed:
            histories[candidate] = replayed[0]["history"]
            return replayed[0]["score"], replayed[0]["seconds"]
        cfg = candidate_config(config, genotypes[candidate])
        if candidate not in models:
            torch.manual_seed(config.seed)
            models[candidate] = new_model(genotypes[candidate], data, cfg, device)
        progress = fit(models[candidate], graph, data.train, cfg, device, epochs, evaluator,
                       label=f"{stage} candidate {candidate} ", quiet=True,
                       resume=state_of(candidate), save=lambda state: keep(candidate, state),
                       writer=writer)
        histories[candidate] = progress.history
        score = progress.stopping.best_metrics[f"recall@{k}"]
        seconds = progress.seconds - sum(c["seconds"] for c in done)
        calls.append({"candidate": candidate, "genotype": describe(candidate), "epochs": epochs,
                      "score": score, "seconds": seconds, "history": progress.history})
        if store is not None:
            write_json(store / "calls.json", calls)
        log.info(f"{stage}: candidate {candidate + 1}/{len(genotypes)} after {progress.epoch} "
                 f"epochs: val recall@{k} {score:.4f}  ({format_seconds(progress.seconds)} "
                 f"training)  {describe(candidate)}")
        return score, seconds

    rounds = successive_halving(len(genotypes), train_to, first_epochs, max_epochs, eta,
                                budget_seconds, survivors, cut_first_round)
    winner = rounds[-1].kept[0]
    return Selection(winner, rounds, histories, state_of(winner),
                     sum(c["seconds"] for c in calls))


# what the selection stage draws training settings from (genotype.dim and its hyper-parameters)
SETTINGS_SPACE = {"dim": (32, 64, 128), "lr": (1e-3, 2e-3, 5e-3, 1e-2),
                  "l2": (1e-5, 1e-4, 1e-3, 1e-2), "loss": ("softmax", "softmax", "bpr"),
                  "temperature": (0.5, 1.0, 2.0, 4.0), "negatives": (256, 1024, 4096),
                  "dropout": (0.0, 0.0, 0.1, 0.2)}


def with_settings(genotype, rng=None):
    """A copy of ``genotype`` with random training settings from SETTINGS_SPACE (``rng``: a
    random.Random), or, without rng, with no settings of its own (the run's)."""
    candidate = copy.deepcopy(genotype)
    candidate.hyperparameters = {}
    if rng is None:
        return candidate
    choice = {name: rng.choice(values) for name, values in SETTINGS_SPACE.items()}
    candidate.dim = choice.pop("dim")
    if choice["loss"] == "bpr":
        del choice["temperature"], choice["negatives"]
    candidate.hyperparameters = choice
    return candidate
