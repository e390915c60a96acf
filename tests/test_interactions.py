"""Id mapping, splits (seeded, disjoint, per user), the few-interactions rule, dataset lookup."""
import numpy as np
import pytest

from recnas.runtime.errors import DataError
from recnas.data.interactions import DataConfig, load_interactions, split_per_user


def write(path, text):
    path.write_text(text)
    return path


def raw_pairs(data, split):
    pairs = getattr(data, split)
    return {(data.user_ids[u], data.item_ids[i]) for u, i in pairs}


def test_string_and_huge_integer_ids_round_trip(tmp_path):
    rows = [("alice", "x9"), ("bob", "x9"), ("alice", "y"), ("12345678901234567890123", "007"),
            ("-5", "7"), ("bob", "y"), ("-5", "x9")]
    f = write(tmp_path / "inter.csv", "user,item\n" + "\n".join(f"{u},{i}" for u, i in rows))
    data = load_interactions(DataConfig(dataset=str(f), test_fraction=0.0, val_fraction=0.0))
    assert raw_pairs(data, "train") == set(rows)
    assert set(data.user_ids) == {u for u, _ in rows}
    assert "007" in data.item_ids and "7" in data.item_ids   # distinct raw ids stay distinct
    assert data.n_users == 4 and data.n_items == 4


def test_integer_ids_keep_numeric_order(tmp_path):
    f = write(tmp_path / "p.txt", "10 3\n2 30\n1 200\n10 30\n")
    data = load_interactions(DataConfig(dataset=str(f), test_fraction=0.0, val_fraction=0.0))
    assert list(data.user_ids) == ["1", "2", "10"]
    assert list(data.item_ids) == ["3", "30", "200"]


def random_interactions(tmp_path, n_users=60, n_items=40, seed=1):
    rng = np.random.default_rng(seed)
    lines = []
    for u in range(n_users):
        n = rng.integers(1, 25)
        for i in rng.choice(n_items, size=n, replace=False):
            lines.append(f"user{u}\titem{i}\t{rng.integers(1, 6)}")
    return write(tmp_path / "ratings.tsv", "\n".join(lines) + "\n")


def test_splits_are_seeded_disjoint_and_per_user(tmp_path):
    f = random_interactions(tmp_path)
    a = load_interactions(DataConfig(dataset=str(f)), seed=3)
    b = load_interactions(DataConfig(dataset=str(f)), seed=3)
    c = load_interactions(DataConfig(dataset=str(f)), seed=4)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, split), getattr(b, split))
    assert not np.array_equal(a.test, c.test)
    train, val, test = (raw_pairs(a, s) for s in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train | val | test) == len(f.read_text().splitlines())
    # per user: round-half-up(20 % of n) to test, then 10 % of the rest to validation
    n_by_user = np.bincount(np.concatenate([a.train[:, 0], a.val[:, 0], a.test[:, 0]]))
    n_test = np.bincount(a.test[:, 0], minlength=a.n_users)
    n_val = np.bincount(a.val[:, 0], minlength=a.n_users)
    expected_test = np.minimum(np.floor(0.2 * n_by_user + 0.5), n_by_user - 1)
    np.testing.assert_array_equal(n_test, expected_test)
    n_rest = n_by_user - n_test
    np.testing.assert_array_equal(n_val, np.minimum(np.floor(0.1 * n_rest + 0.5), n_rest - 1))


def test_few_interactions_rule():
    # users with 1..8 interactions: 20 % held out, rounded half up, at least one kept
    pairs = np.array([(u, i) for u in range(8) for i in range(u + 1)])
    kept, held = split_per_user(pairs, 0.2, np.random.default_rng(0))
    held_per_user = np.bincount(held[:, 0], minlength=8)
    assert list(held_per_user) == [0, 0, 1, 1, 1, 1, 1, 2]
    assert np.all(np.bincount(kept[:, 0], minlength=8) >= 1)


def test_min_rating_and_duplicates(tmp_path):
    f = write(tmp_path / "u.data", "1\t1\t5\t0\n1\t1\t4\t1\n1\t2\t1\t2\n2\t2\t4\t3\n2\t3\t2\t4\n")
    data = load_interactions(DataConfig(dataset=str(f), min_rating=4, test_fraction=0.0,
                                        val_fraction=0.0))
    assert raw_pairs(data, "train") == {("1", "1"), ("2", "2")}
    assert data.notes["duplicates"] == 1 and data.notes["below_min_rating"] == 2
    assert set(data.item_ids) == {"1", "2"}   # item 3 had only a low rating


def test_given_test_split_keeps_cold_rows_and_drops_pairs_seen_in_training(tmp_path):
    write(tmp_path / "train.txt", "0 0 1 2\n1 1 2\n")
    write(tmp_path / "test.txt", "0 3 1\n2 0\n")
    data = load_interactions(DataConfig(dataset=str(tmp_path), val_fraction=0.0))
    assert raw_pairs(data, "test") == {("0", "3"), ("2", "0")}
    assert data.notes["test_in_train"] == 1
    assert data.notes["test_cold_user_rows"] == 1 and data.notes["test_cold_item_rows"] == 1
    assert data.n_users == 3 and data.n_items == 4
    assert "whose user never occurs in training: 1" in data.summary()


def test_single_file_with_test_file(tmp_path):
    train = write(tmp_path / "a.tsv", "u1\ti1\nu1\ti2\nu2\ti1\n")
    test = write(tmp_path / "b.tsv", "u2\ti2\n")
    data = load_interactions(DataConfig(dataset=str(train), test_file=str(test), val_fraction=0))
    assert raw_pairs(data, "test") == {("u2", "i2")} and len(data.train) == 3


def test_directory_with_one_file_and_bundled_names(tmp_path):
    write(tmp_path / "README.md", "about")
    write(tmp_path / "ratings.csv", "user,item\n1,2\n1,3\n2,3\n")
    assert load_interactions(DataConfig(dataset=str(tmp_path))).n_users == 2
    ml = load_interactions(DataConfig(dataset="ml-100k"))
    assert (ml.n_users, ml.n_items) == (943, 1682)
    assert len(ml.train) + len(ml.val) + len(ml.test) == 100_000


def test_missing_dataset_and_ambiguous_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_interactions(DataConfig(dataset=str(tmp_path / "nothing")))
    write(tmp_path / "a.csv", "user,item\n1,2\n")
    write(tmp_path / "b.csv", "user,item\n1,2\n")
    with pytest.raises(DataError, match="exactly one interactions file"):
        load_interactions(DataConfig(dataset=str(tmp_path)))
