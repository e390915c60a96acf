"""Successive halving on planted problems: candidates whose validation score at each epoch count
is known."""
import pytest

from training.selection import successive_halving


def planted(final_scores, slow=()):
    """train_to for candidates whose score rises towards final_scores[c] (candidates in ``slow``
    rise later); records every (candidate, epochs) call."""
    calls = []

    def train_to(candidate, epochs):
        calls.append((candidate, epochs))
        rate = 0.02 if candidate in slow else 0.2
        return final_scores[candidate] * min(1.0, rate * epochs)
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
    rounds = successive_halving(4, lambda c, e: 0.5, first_epochs=1, max_epochs=4, eta=2)
    assert [r.kept for r in rounds] == [[0, 1], [0]]
    train_to, calls = planted([0.3])
    rounds = successive_halving(1, train_to, first_epochs=3, max_epochs=9)
    assert calls == [(0, 3)] and rounds[-1].kept == [0]


def test_out_of_budget_the_best_of_the_round_wins():
    scores = [0.1, 0.4, 0.3, 0.2]
    train_to, calls = planted(scores)
    rounds = successive_halving(4, train_to, first_epochs=1, max_epochs=64, eta=2,
                                budget_seconds=0.0)
    assert len(rounds) == 1 and rounds[0].kept == [1]


@pytest.mark.parametrize("bad", [dict(n_candidates=0), dict(first_epochs=0),
                                 dict(max_epochs=0), dict(eta=1)])
def test_bad_settings_are_refused(bad):
    settings = {**dict(n_candidates=2, first_epochs=1, max_epochs=4, eta=2), **bad}
    with pytest.raises(ValueError):
        successive_halving(train_to=lambda c, e: 0.0, **settings)
