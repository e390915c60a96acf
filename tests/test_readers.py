"""Each input format, auto-detection, and every bad-input case (one error type, file + line)."""
import gzip

import numpy as np
import pytest

from recnas.runtime.errors import DataError
from recnas.data.interactions import DataConfig, load_interactions
from recnas.data.readers import detect_format, read_table


def write(path, text):
    path.write_text(text)
    return path


def test_lightgcn_adjacency_lists(tmp_path):
    f = write(tmp_path / "train.txt", "0 1 2 3\n1 2\n\n2 0 5\n3\n")
    t = read_table(f)
    assert t.format == "lightgcn"
    assert list(zip(t.users, t.items)) == [("0", "1"), ("0", "2"), ("0", "3"), ("1", "2"),
                                           ("2", "0"), ("2", "5")]
    assert list(t.lines) == [1, 1, 1, 2, 4, 4]
    assert t.ratings is None


def test_lightgcn_detected_from_varying_widths_and_gzip(tmp_path):
    f = tmp_path / "adj.gz"
    with gzip.open(f, "wt") as g:
        g.write("7 1 2 3\n8 2\n9 0 5 6 7\n")
    assert detect_format(f) == "lightgcn"
    assert len(read_table(f).items) == 8


def test_movielens_u_data(tmp_path):
    f = write(tmp_path / "u.data", "196\t242\t3\t881250949\n186\t302\t3.5\t8.9e+08\n")
    t = read_table(f)
    assert t.format == "movielens"
    assert list(t.users) == ["196", "186"] and list(t.items) == ["242", "302"]
    np.testing.assert_array_equal(t.ratings, [3.0, 3.5])


@pytest.mark.parametrize("sep", [",", "\t", ";"])
def test_csv_with_header(tmp_path, sep):
    rows = [["userId", "movieId", "rating", "timestamp"], ["u1", "m9", "4.5", "3.2e+05"],
            ["u2", "m9", "1", "1000"]]
    f = write(tmp_path / "ratings.csv", "\n".join(sep.join(r) for r in rows) + "\n")
    t = read_table(f)
    assert t.format == "csv"
    assert list(t.users) == ["u1", "u2"] and list(t.items) == ["m9", "m9"]
    np.testing.assert_array_equal(t.ratings, [4.5, 1.0])
    assert list(t.lines) == [2, 3]


def test_csv_columns_in_any_order_and_recbole_names(tmp_path):
    f = write(tmp_path / "x.inter", "timestamp:float\titem_id:token\tuser_id:token\n"
                                    "5\tA\tB\n6\tC\tD\n")
    t = read_table(f)
    assert t.format == "csv"
    assert list(t.users) == ["B", "D"] and list(t.items) == ["A", "C"]
    assert t.ratings is None


def test_csv_quoted_fields(tmp_path):
    f = write(tmp_path / "q.csv", 'user,item\n"smith, j","book, red"\nbob,pen\n')
    t = read_table(f)
    assert list(t.users) == ["smith, j", "bob"] and list(t.items) == ["book, red", "pen"]


@pytest.mark.parametrize("sep", [" ", "\t", "  ", ","])
def test_headerless_rows_with_weights_in_any_notation(tmp_path, sep):
    lines = ["alice", "book", "3.2e+05", "7"], ["bob", "pen", "2", "1E3"]
    f = write(tmp_path / "inter.txt", "\n".join(sep.join(r) for r in lines) + "\n")
    t = read_table(f)
    assert t.format == "rows"
    assert list(t.users) == ["alice", "bob"]
    np.testing.assert_array_equal(t.ratings, [3.2e5, 2.0])


def test_headerless_two_columns(tmp_path):
    f = write(tmp_path / "pairs.tsv", "1\t2\n3\t4\n")
    t = read_table(f)
    assert t.format == "rows" and t.ratings is None and list(t.items) == ["2", "4"]


def test_format_override(tmp_path):
    f = write(tmp_path / "pairs.txt", "1 2 3\n4 5 6\n")
    assert read_table(f).format == "rows"
    t = read_table(f, "lightgcn")
    assert list(zip(t.users, t.items)) == [("1", "2"), ("1", "3"), ("4", "5"), ("4", "6")]


# ---- bad input: one error type whose message names the file, the line and the problem ----

def raises(path, match, line=None, fmt=None):
    with pytest.raises(DataError, match=match) as info:
        read_table(path, fmt)
    assert str(path) in str(info.value)
    assert info.value.line == line
    if line is not None:
        assert f"line {line}" in str(info.value)


def test_empty_file(tmp_path):
    raises(write(tmp_path / "empty.txt", "\n  \n"), "empty")


def test_missing_path(tmp_path):
    raises(tmp_path / "nope.csv", "no such file")


def test_wrong_number_of_columns_rows(tmp_path):
    raises(write(tmp_path / "r.txt", "a b 1\nc d 2\ne f\ng h 4\n"), "expected 3 columns, found 2",
           line=3)


def test_wrong_number_of_columns_movielens(tmp_path):
    raises(write(tmp_path / "u.data", "1\t2\t3\t4\n1\t2\t3\n"), "expected 4 columns", line=2,
           fmt="movielens")


def test_wrong_number_of_columns_csv(tmp_path):
    raises(write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n1,2\n"), "expected 3 columns",
           line=3)


def test_non_numeric_rating(tmp_path):
    raises(write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n1,3,good\n"), "'good' is not a number",
           line=3)


def test_non_numeric_weight_in_rows(tmp_path):
    raises(write(tmp_path / "r.txt", "a b 1\nc d x\n"), "weight 'x' is not a number", line=2)


def test_non_numeric_id_where_format_needs_numbers(tmp_path):
    raises(write(tmp_path / "u.data", "1\t2\t3\t4\nbob\t2\t3\t4\n"), "user id 'bob'", line=2)
    raises(write(tmp_path / "train.txt", "0 1 2\n1 x 3\n"), "'x' is not a non-negative integer",
           line=2)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf"])
def test_nan_rating(tmp_path, value):
    raises(write(tmp_path / "r.csv", f"user,item,rating\n1,2,3\n1,3,{value}\n"), "not a finite",
           line=3)


def test_negative_rating(tmp_path):
    raises(write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n\n1,3,-1\n"), "negative", line=4)


def test_header_without_user_item_columns(tmp_path):
    raises(write(tmp_path / "r.csv", "who,what,rating\n1,2,3\n"), "no recognizable user and item",
           line=1)
    raises(write(tmp_path / "s.csv", "user_id,thing\n1,2\n"), "no recognizable item", line=1,
           fmt="csv")


def test_empty_id(tmp_path):
    raises(write(tmp_path / "r.csv", "user,item\n1,2\n,3\n"), "user id is empty", line=3)


def test_not_utf8(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"\xff\xfe\x00garbage\x80\n")
    raises(path, "not UTF-8")


def test_test_file_in_another_format(tmp_path):
    train = write(tmp_path / "a.csv", "user,item\n1,2\n1,3\n2,3\n")
    test = write(tmp_path / "b.txt", "1\t4\t5\t6\n2\t1\t1\t7\n")
    with pytest.raises(DataError, match="both splits must share one format") as info:
        load_interactions(DataConfig(dataset=str(train), test_file=str(test)))
    assert str(test) in str(info.value)


def test_one_item_adjacency_test_file_goes_with_lightgcn_train(tmp_path):
    write(tmp_path / "train.txt", "0 1 2 3\n1 2 3\n2 0 1\n")
    write(tmp_path / "test.txt", "0 4\n1 0\n")
    data = load_interactions(DataConfig(dataset=str(tmp_path), val_fraction=0.0))
    assert len(data.test) == 2 and len(data.train) == 7


def test_min_rating_needs_ratings(tmp_path):
    f = write(tmp_path / "train.txt", "0 1 2 3\n1 2\n2 1 2 3 4\n")
    with pytest.raises(DataError, match="--min-rating needs a rating column"):
        load_interactions(DataConfig(dataset=str(f), min_rating=3))
