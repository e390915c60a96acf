"""Read one interactions file into raw (user, item, rating) columns, with format auto-detection.

Formats (names accepted by ``--format``):

- ``lightgcn``: adjacency lists, one line per user: ``user item item ...`` (integer ids).
- ``movielens``: MovieLens ``u.data``: tab-separated ``user item rating timestamp`` (integer ids).
- ``csv``: a header row naming the user and item columns (rating, timestamp and others optional),
  separated by commas, tabs, semicolons or whitespace.
- ``rows``: headerless rows ``user item [weight ...]`` separated by whitespace, tabs or commas;
  every row has the same number of columns and every column after the item is a number.

Ids are kept as the exact strings of the file; ``interactions.py`` maps them to indices.
Files ending in ``.gz`` are decompressed on the fly.
"""
import csv
import gzip
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from recnas.runtime.errors import DataError

FORMATS = ("lightgcn", "movielens", "csv", "rows")

# Header names (lower-cased, without '_', '-', ' ' and RecBole's ':type' suffix) recognised as columns.
USER_COLUMNS = {"user", "users", "userid", "uid", "u", "customer", "customerid", "reviewerid",
                "visitor", "visitorid", "member", "memberid", "accountid"}
ITEM_COLUMNS = {"item", "items", "itemid", "iid", "i", "movie", "movieid", "product", "productid",
                "asin", "business", "businessid", "song", "songid", "track", "trackid", "artist",
                "artistid", "location", "locationid", "poi", "poiid", "venue", "venueid", "book",
                "bookid", "isbn", "article", "articleid", "video", "videoid", "anime", "animeid"}
RATING_COLUMNS = {"rating", "ratings", "rate", "score", "weight", "value", "stars", "count",
                  "playcount", "plays", "clicks", "label"}

_SAMPLE_LINES = 50


@dataclass
class RawTable:
    """Columns read from one file; ``lines[k]`` is the 1-based file line of row ``k``."""
    path: Path
    format: str
    users: np.ndarray            # (n,) str
    items: np.ndarray            # (n,) str
    ratings: Optional[np.ndarray]  # (n,) float64, or None when the format has no rating column
    lines: np.ndarray            # (n,) int64
    n_columns: int               # columns per row (0 for adjacency lists)


def read_table(path, fmt=None, numbered=None) -> RawTable:
    """Read ``path`` in format ``fmt`` (detected when None); ``numbered``: its read_lines()."""
    path = Path(path)
    if numbered is None:
        numbered = read_lines(path)
    if fmt is None:
        fmt = detect_format(path, numbered)
    elif fmt not in FORMATS:
        raise DataError(path, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    numbers = np.fromiter((n for n, _ in numbered), dtype=np.int64, count=len(numbered))
    lines = [line for _, line in numbered]
    parse = {"lightgcn": _parse_lightgcn, "movielens": _parse_movielens,
             "csv": _parse_csv, "rows": _parse_rows}[fmt]
    return parse(path, lines, numbers)


def detect_format(path, numbered=None) -> str:
    """Guess the format of ``path`` from its name and first lines (see the module docstring)."""
    path = Path(path)
    if numbered is None:
        numbered = read_lines(path)
    sample = [line for _, line in numbered[:_SAMPLE_LINES]]
    if _looks_like_header(sample):
        return "csv"
    name = _base_name(path)
    if re.fullmatch(r"u(\d|[ab])?\.(data|base|test)", name) or all(
            _is_number_row(line.split("\t"), 4) for line in sample):
        return "movielens"
    if name in ("train.txt", "test.txt"):
        return "lightgcn"
    widths = {len(_split_row(line, _row_separator(sample[0]))) for line in sample}
    # Adjacency lists have lines of many lengths; a table with one broken row has two.
    return "lightgcn" if len(widths) >= 3 else "rows"


def _base_name(path):
    name = path.name
    return name[:-3] if name.endswith(".gz") else name


def read_lines(path):
    """Non-blank lines of ``path`` as (1-based line number, text)."""
    if not path.exists():
        raise DataError(path, "no such file or directory")
    if path.is_dir():
        raise DataError(path, "is a directory, expected an interactions file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise DataError(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except (OSError, EOFError) as e:
        raise DataError(path, f"cannot read: {e}") from None
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not numbered:
        raise DataError(path, "file is empty (no interactions)")
    return numbered


def _is_number(token):
    try:
        float(token)
        return True
    except ValueError:
        return False


def _is_number_row(tokens, width):
    return len(tokens) == width and all(_is_number(t) for t in tokens)


def _header_separator(line):
    for sep in (",", "\t", ";"):
        if sep in line:
            return sep
    return None


def _row_separator(line):
    return "," if "," in line else None


def _split_row(line, sep):
    return line.split() if sep is None else [t.strip() for t in line.split(sep)]


def normalize_column(name):
    """'User_ID:token' -> 'userid' (the form USER_COLUMNS and friends use)."""
    return re.sub(r"[\s_\-]", "", name.split(":")[0].strip().strip('"\'').lower())


def _looks_like_header(sample):
    """A header names a user and an item column, or is all words above a row with numbers."""
    first = _split_row(sample[0], _header_separator(sample[0]))
    names = {normalize_column(t) for t in first if not _is_number(t)}
    if names & USER_COLUMNS and names & ITEM_COLUMNS:
        return True
    if len(sample) < 2 or any(_is_number(t) for t in first):
        return False
    second = _split_row(sample[1], _header_separator(sample[0]))
    return any(_is_number(t) for t in second)


def _split_rows(path, lines, numbers, sep, width=None):
    """Split every line; all rows must have ``width`` columns (the first row's when None)."""
    if sep in (",", ";", "\t") and any('"' in line for line in lines):
        rows = list(csv.reader(lines, delimiter=sep))
    else:
        rows = [_split_row(line, sep) for line in lines]
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    expected = widths[0] if width is None else width
    bad = np.flatnonzero(widths != expected)
    if bad.size:
        k = bad[0]
        raise DataError(path, f"expected {expected} columns, found {widths[k]}", int(numbers[k]))
    return rows


def _column(rows, j):
    return np.array([row[j] for row in rows], dtype=str)


def _id_column(path, rows, j, numbers, what):
    values = _column(rows, j)
    empty = np.flatnonzero(np.char.str_len(values) == 0)
    if empty.size:
        raise DataError(path, f"{what} id is empty", int(numbers[empty[0]]))
    return values


def _check_integer_ids(path, values, numbers, what):
    bad = np.flatnonzero(~np.char.isdigit(values))
    if bad.size:
        k = bad[0]
        raise DataError(path, f"{what} id {str(values[k])!r} is not a non-negative integer",
                        int(numbers[k]))


def parse_numbers(path, values, numbers, what):
    """Strings to float64; the first non-number, NaN or infinity is a DataError with its line."""
    try:
        out = values.astype(np.float64)
    except ValueError:
        for value, line in zip(values, numbers):
            if not _is_number(value):
                raise DataError(path, f"{what} {str(value)!r} is not a number", int(line)) from None
        raise
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        k = bad[0]
        raise DataError(path, f"{what} {str(values[k])!r} is not a finite number",
                        int(numbers[k]))
    return out


def _check_ratings(path, ratings, numbers):
    bad = np.flatnonzero(ratings < 0)
    if bad.size:
        k = bad[0]
        raise DataError(path, f"rating {ratings[k]:g} is negative", int(numbers[k]))
    return ratings


def _parse_lightgcn(path, lines, numbers):
    rows = [line.split() for line in lines]
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    flat = np.array(list(itertools.chain.from_iterable(rows)), dtype=str)
    flat_lines = np.repeat(numbers, widths)
    _check_integer_ids(path, flat, flat_lines, "user or item")
    starts = np.concatenate(([0], np.cumsum(widths)[:-1]))
    is_item = np.ones(flat.size, dtype=bool)
    is_item[starts] = False
    users = np.repeat(flat[starts], widths - 1)
    return RawTable(path, "lightgcn", users, flat[is_item], None, flat_lines[is_item], 0)


def _parse_movielens(path, lines, numbers):
    rows = _split_rows(path, lines, numbers, "\t", width=4)
    users, items = _column(rows, 0), _column(rows, 1)
    _check_integer_ids(path, users, numbers, "user")
    _check_integer_ids(path, items, numbers, "item")
    ratings = _check_ratings(path, parse_numbers(path, _column(rows, 2), numbers, "rating"), numbers)
    parse_numbers(path, _column(rows, 3), numbers, "timestamp")
    return RawTable(path, "movielens", users, items, ratings, numbers, 4)


def _parse_rows(path, lines, numbers):
    rows = _split_rows(path, lines, numbers, _row_separator(lines[0]))
    width = len(rows[0])
    if width < 2:
        raise DataError(path, f"expected at least 2 columns (user item), found {width}",
                        int(numbers[0]))
    ratings = None
    for j in range(2, width):
        what = "weight" if j == 2 else f"column {j + 1}"
        values = parse_numbers(path, _column(rows, j), numbers, what)
        if j == 2:
            ratings = _check_ratings(path, values, numbers)
    users = _id_column(path, rows, 0, numbers, "user")
    items = _id_column(path, rows, 1, numbers, "item")
    return RawTable(path, "rows", users, items, ratings, numbers, width)


def _find_column(header, names):
    found = [j for j, name in enumerate(header) if normalize_column(name) in names]
    return found[0] if found else None


def _parse_csv(path, lines, numbers):
    sep = _header_separator(lines[0])
    header = _split_rows(path, lines[:1], numbers[:1], sep)[0]
    user_col, item_col = _find_column(header, USER_COLUMNS), _find_column(header, ITEM_COLUMNS)
    if user_col is None or item_col is None:
        missing = " and ".join(w for w, c in (("user", user_col), ("item", item_col)) if c is None)
        raise DataError(path, f"header {header} has no recognizable {missing} column "
                              f"(e.g. 'user_id', 'item_id', 'movieId')", int(numbers[0]))
    if len(lines) < 2:
        raise DataError(path, "file has a header but no interactions")
    rows = _split_rows(path, lines[1:], numbers[1:], sep, width=len(header))
    data_lines = numbers[1:]
    rating_col = _find_column(header, RATING_COLUMNS)
    ratings = None
    if rating_col is not None:
        ratings = parse_numbers(path, _column(rows, rating_col), data_lines,
                                f"{header[rating_col]!r} value")
        ratings = _check_ratings(path, ratings, data_lines)
    users = _id_column(path, rows, user_col, data_lines, "user")
    items = _id_column(path, rows, item_col, data_lines, "item")
    return RawTable(path, "csv", users, items, ratings, data_lines, len(header))
