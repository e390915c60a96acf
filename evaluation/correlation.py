"""Rank agreement between two scorings of the same items (here: architectures scored by the
supernet's inherited weights and by standalone training): Kendall's τ-b, Spearman's ρ, and a
bootstrap confidence interval over the items."""
import numpy as np


def kendall_tau(x, y):
    """Kendall's τ-b: (concordant - discordant) pairs / sqrt of the pairs untied in x times the
    pairs untied in y; NaN when either is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    i, j = np.triu_indices(len(x), k=1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    untied = np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    return float((dx * dy).sum() / untied) if untied else float("nan")


def average_ranks(x):
    """Ranks 1..n, tied values sharing the mean of their ranks."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman_rho(x, y):
    """Spearman's ρ: the Pearson correlation of the average ranks; NaN when either is constant."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / norm) if norm else float("nan")


def bootstrap_interval(statistic, x, y, level=0.95, resamples=2000, seed=0):
    """Percentile bootstrap interval of statistic(x, y), resampling the (x_i, y_i) pairs;
    resamples where the statistic is undefined (NaN) are left out."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    values = [statistic(x[idx], y[idx]) for idx in rng.integers(0, len(x), (resamples, len(x)))]
    values = np.asarray([v for v in values if not np.isnan(v)])
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))
