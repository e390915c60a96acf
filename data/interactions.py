"""Load a dataset into train / validation / test interactions over contiguous user and item ids.

Rules (also in the README):
- The user and item universe is every id that appears in any split (LightGCN's and RecBole's
  convention), so test rows whose user or item never occurs in training stay in the test set;
  the summary counts them.
- ``min_rating`` keeps rows with rating >= R; duplicate (user, item) pairs then count once.
- Without a given test split, each user's interactions are split at random (seeded):
  round-half-up(test_fraction * n) go to test, but a user always keeps at least one training
  interaction. So with 20 %, a user with 1 or 2 interactions has none in test, 3..7 have one.
  The validation slice is carved from each user's training interactions by the same rule.
- A given test split is used as is, except pairs that also occur in training, which are dropped
  (a masked item can never be recommended) and counted in the summary.
"""
import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Optional

import numpy as np

from recnas.runtime.errors import ConfigError, DataError
from recnas.runtime.options import option
from recnas.data.readers import FORMATS, RawTable, detect_format, read_lines, read_table

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
_DOC_PREFIXES = ("readme", "license", "licence", "copying", "u.item", "u.user", "u.info")


@dataclass
class DataConfig:
    """Which interactions, and how they are split (the ``data`` options)."""
    dataset: str = option("ml-100k", "bundled name (ml-100k, gowalla), a directory or an "
                                     "interactions file")
    test_file: Optional[str] = option(None, "a given test split for a single-file dataset",
                                      default_help="none")
    format: Optional[str] = option(None, "input format", choices=FORMATS,
                                   default_help="auto-detect")
    min_rating: Optional[float] = option(None, "keep rows with rating >= R",
                                         default_help="all")
    test_fraction: float = option(0.2, "per-user test share when no test split is given")
    val_fraction: float = option(0.1, "per-user validation share of the training rows")


@dataclass
class Interactions:
    """Splits as (n, 2) int64 arrays of [user, item] rows, sorted by user then item."""
    name: str
    user_ids: np.ndarray   # raw id (str) of each user index
    item_ids: np.ndarray   # raw id (str) of each item index
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    notes: dict = field(default_factory=dict)

    @property
    def n_users(self):
        return len(self.user_ids)

    @property
    def n_items(self):
        return len(self.item_ids)

    @cached_property
    def fingerprint(self):
        """sha256 of the ids and the three splits: equal fingerprints, equal data."""
        digest = hashlib.sha256()
        for array in (self.user_ids, self.item_ids, self.train, self.val, self.test):
            digest.update(np.ascontiguousarray(array).tobytes())
            digest.update(b"|")
        return digest.hexdigest()

    def without_test(self):
        """These interactions with an empty test split: what a stage that must not read test
        (the selection) gets."""
        return replace(self, test=self.test[:0])

    def record(self):
        """Name, fingerprint and counts: what run files say about the data."""
        return {"name": self.name, "fingerprint": self.fingerprint, **self.counts()}

    def counts(self):
        return {"users": self.n_users, "items": self.n_items, "train": len(self.train),
                "val": len(self.val), "test": len(self.test)}

    def summary(self):
        n = len(self.train) + len(self.val) + len(self.test)
        density = n / max(1, self.n_users * self.n_items)
        notes = self.notes
        return (
            f"{self.name}: {self.n_users:,} users, {self.n_items:,} items, {n:,} interactions "
            f"(density {density:.4%}) -> train {len(self.train):,}, val {len(self.val):,}, "
            f"test {len(self.test):,}. Split: {notes['split']}. "
            f"Test rows whose user never occurs in training: {notes['test_cold_user_rows']:,}; "
            f"whose item never occurs in training: {notes['test_cold_item_rows']:,}. "
            f"Duplicate pairs removed: {notes['duplicates']:,}; "
            f"test pairs also in training dropped: {notes['test_in_train']:,}; "
            f"rows below --min-rating: {notes['below_min_rating']:,}."
        )


def pairs_to_csr(pairs, n_rows):
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(pairs[:, 0], minlength=n_rows), out=indptr[1:])
    return indptr, pairs[order, 1].astype(np.int64)


def resolve_dataset(dataset, test_file=None):
    """Map ``--dataset`` / ``--test-file`` to (name, train path, test path or None)."""
    path = Path(dataset)
    if not path.exists() and (BUNDLED_DIR / dataset).is_dir():
        path = BUNDLED_DIR / dataset
    if not path.exists():
        bundled = ", ".join(sorted(p.name for p in BUNDLED_DIR.iterdir() if p.is_dir()))
        raise DataError(path, f"no such file or directory (bundled datasets: {bundled})")
    name = path.name
    if path.is_file():
        return name, path, Path(test_file) if test_file else None
    train, test = _find(path, "train.txt"), _find(path, "test.txt")
    if train and test:
        if test_file:
            raise DataError(path, f"holds its own test split ({test.name}); drop --test-file")
        return name, train, test
    single = _find(path, "u.data")
    if single is None:
        files = [p for p in sorted(path.iterdir()) if p.is_file()
                 and not p.name.startswith(".") and not p.name.lower().startswith(_DOC_PREFIXES)]
        if len(files) != 1:
            raise DataError(path, "expected train.txt + test.txt, u.data, or exactly one "
                                  f"interactions file; found {[p.name for p in files]}")
        single = files[0]
    return name, single, Path(test_file) if test_file else None


def _find(directory, name):
    for candidate in (directory / name, directory / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_interactions(config: DataConfig, seed=0) -> Interactions:
    """Read, index and split the dataset ``config`` names; ``seed`` draws the random splits."""
    name, train_path, test_path = resolve_dataset(config.dataset, config.test_file)
    train_table = read_table(train_path, config.format)
    test_table = None
    if test_path is not None:
        test_lines = read_lines(test_path)
        _check_same_format(train_table.format, test_path, test_lines)
        test_table = read_table(test_path, train_table.format, test_lines)

    notes = {"below_min_rating": 0}
    tables = [t for t in (train_table, test_table) if t is not None]
    if config.min_rating is not None:
        tables = [_keep_min_rating(t, config.min_rating, notes) for t in tables]

    user_ids, user_index = _index_ids([t.users for t in tables])
    item_ids, item_index = _index_ids([t.items for t in tables])
    n_items = len(item_ids)
    train_rows = len(tables[0].users)
    all_pairs = np.stack([user_index, item_index], axis=1)
    train_all = _unique_pairs(all_pairs[:train_rows], n_items)
    notes["duplicates"] = train_rows - len(train_all)

    rng_test, rng_val = (np.random.default_rng([seed, stream]) for stream in (0, 1))
    if test_table is not None:
        given_test = all_pairs[train_rows:]
        test = _unique_pairs(given_test, n_items)
        notes["duplicates"] += len(given_test) - len(test)
        in_train = np.isin(_keys(test, n_items), _keys(train_all, n_items))
        notes["test_in_train"] = int(in_train.sum())
        test = test[~in_train]
        split = f"given test file {test_path.name}"
    else:
        _check_fraction("test_fraction", config.test_fraction)
        train_all, test = split_per_user(train_all, config.test_fraction, rng_test)
        notes["test_in_train"] = 0
        split = (f"per-user random {1 - config.test_fraction:.0%}/{config.test_fraction:.0%} "
                 f"(seed {seed})")
    _check_fraction("val_fraction", config.val_fraction)
    train, val = split_per_user(train_all, config.val_fraction, rng_val)
    notes["split"] = split + f", validation {config.val_fraction:.0%} of each user's training rows"

    seen_users = np.bincount(train[:, 0], minlength=len(user_ids)) > 0
    seen_items = np.bincount(train[:, 1], minlength=n_items) > 0
    notes["test_cold_user_rows"] = int((~seen_users[test[:, 0]]).sum())
    notes["test_cold_item_rows"] = int((~seen_items[test[:, 1]]).sum())
    return Interactions(name, user_ids, item_ids, train, val, test, notes)


def _check_fraction(name, value):
    if not 0 <= value < 1:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")


def _check_same_format(train_format, test_path, test_lines):
    """The test file must look like the training file's format; adjacency lists with one item
    per user look like 2-column rows, so those two go together."""
    detected = detect_format(test_path, test_lines)
    pairs_only = all(len(line.split()) <= 2 for _, line in test_lines[:50])
    if detected != train_format and not (
            {detected, train_format} == {"lightgcn", "rows"} and pairs_only):
        raise DataError(test_path, f"looks like format {detected!r}, but the training file is "
                                   f"{train_format!r}; both splits must share one format")


def _keep_min_rating(table: RawTable, min_rating, notes):
    if table.ratings is None:
        raise DataError(table.path, f"--min-rating needs a rating column; format "
                                    f"{table.format!r} of this file has none")
    keep = table.ratings >= min_rating
    notes["below_min_rating"] += int((~keep).sum())
    return RawTable(table.path, table.format, table.users[keep], table.items[keep],
                    table.ratings[keep], table.lines[keep], table.n_columns)


def _index_ids(columns):
    """Raw id strings -> (sorted unique raw ids, index of every row).

    All-integer ids (written without leading zeros) are ordered by value, so files whose ids are
    already 0..n-1 keep them; anything else is ordered as strings.
    """
    raw = np.concatenate(columns)
    unique, index = np.unique(raw, return_inverse=True)
    canonical = np.char.isdigit(unique) & ~(np.char.startswith(unique, "0")
                                           & (np.char.str_len(unique) > 1))
    if unique.size and canonical.all() and np.char.str_len(unique).max() <= 18:
        order = np.argsort(unique.astype(np.int64), kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        unique, index = unique[order], rank[index]
    return unique, index.astype(np.int64)


def _keys(pairs, n_items):
    return pairs[:, 0] * n_items + pairs[:, 1]


def _unique_pairs(pairs, n_items):
    keys = np.unique(_keys(pairs, n_items))
    return np.stack([keys // n_items, keys % n_items], axis=1)


def split_per_user(pairs, fraction, rng):
    """Split each user's rows into (kept, held out): round-half-up(fraction * n) held out,
    at least one kept. Both parts come back sorted by user then item."""
    users = pairs[:, 0]
    order = np.lexsort((rng.random(len(pairs)), users))
    counts = np.bincount(users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    sorted_users = users[order]
    rank = np.arange(len(pairs)) - starts[sorted_users]
    n_out = np.minimum(np.floor(fraction * counts + 0.5), counts - 1)
    held = np.zeros(len(pairs), dtype=bool)
    held[order] = rank < n_out[sorted_users]
    return pairs[~held], pairs[held]
