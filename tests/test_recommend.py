"""recommend.py: ids round-trip, seen items excluded, order = naive argsort, unknown users fail,
test-only users get the popular list, and the TSV reproduces results.json's test metrics."""
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recnas.runtime.errors import DataError
from recnas.app.config import RunConfig
from recnas.evaluation.serving import recommend
from recnas.app.jobs import run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A retrained lightgcn on data with string and huge-integer ids and a test-only user."""
    tmp = tmp_path_factory.mktemp("rec")
    rng = np.random.default_rng(0)
    users = [f"user-{u}" for u in range(30)] + ["98765432109876543210"]
    items = [f"item/{i}" for i in range(50)] + ["12345678901234567890123"]
    train, test = [], []
    for u in users:
        chosen = rng.choice(len(items), size=10, replace=False)
        train += [(u, items[i]) for i in chosen[:8]]
        test += [(u, items[i]) for i in chosen[8:]]
    test += [("only-in-test", items[0]), ("only-in-test", items[3])]
    write = lambda path, rows: path.write_text("user\titem\n" + "".join(f"{u}\t{i}\n" for u, i in rows))
    write(tmp / "train.tsv", train)
    write(tmp / "test.tsv", test)
    config = RunConfig.from_flat("retrain", dataset=str(tmp / "train.tsv"),
                                 test_file=str(tmp / "test.tsv"), out=str(tmp / "run"),
                                 device="cpu", epochs=15, dim=8, batch_size=32,
                                 genotype="lightgcn", patience=5, lr=0.01)
    results = run(config)
    return tmp, results, train, test


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_ids_round_trip_and_seen_items_are_excluded(trained):
    tmp, _, train, _ = trained
    rows = read_tsv(recommend(tmp / "run"))
    assert list(rows[0]) == ["user", "rank", "item", "score", "source"]
    users = {r["user"] for r in rows}
    assert "98765432109876543210" in users and "user-7" in users and "only-in-test" in users
    assert {r["item"] for r in rows} <= {i for _, i in train} | {"item/0", "item/3"} | \
        {f"item/{i}" for i in range(50)} | {"12345678901234567890123"}
    seen = set(train)
    assert not [r for r in rows if (r["user"], r["item"]) in seen]
    by_user = {}
    for r in rows:
        by_user.setdefault(r["user"], []).append(int(r["rank"]))
    assert all(ranks == list(range(1, 21)) for u, ranks in by_user.items() if u != "only-in-test")


def test_include_seen_keeps_them(trained):
    tmp, _, train, _ = trained
    rows = read_tsv(recommend(tmp / "run", tmp / "all.tsv", include_seen=True, k=51))
    seen = set(train)
    assert sum((r["user"], r["item"]) in seen for r in rows) == len(seen)


def test_order_equals_naive_argsort_of_the_model_scores(trained):
    tmp, _, train, _ = trained
    bundle = torch.load(tmp / "run" / "model.pt", weights_only=False)
    reps = bundle["representations"].numpy().astype(np.float64)
    n_users = bundle["n_users"]
    scores = reps[:n_users] @ reps[n_users:].T
    rows = read_tsv(recommend(tmp / "run"))
    seen = {(bundle["user_ids"][u], bundle["item_ids"][i]) for u, i in bundle["seen"]}
    for u, raw in enumerate(bundle["user_ids"]):
        if bundle["cold_users"][u]:
            continue
        ranked = [bundle["item_ids"][i] for i in np.argsort(-scores[u], kind="stable")
                  if (raw, bundle["item_ids"][i]) not in seen][:20]
        assert [r["item"] for r in rows if r["user"] == raw] == ranked


def test_test_only_user_gets_the_popular_items(trained):
    tmp, _, train, _ = trained
    rows = [r for r in read_tsv(recommend(tmp / "run"))
            if r["user"] == "only-in-test"]
    assert {r["source"] for r in rows} == {"popular"}
    counts = {}
    for _, i in train:          # the training file's rows: train and validation splits
        counts[i] = counts.get(i, 0) + 1
    assert [float(r["score"]) for r in rows] == sorted((float(c) for c in counts.values()),
                                                      reverse=True)[:20]


def test_users_file_unknown_user_and_json(trained):
    tmp, _, _, _ = trained
    (tmp / "users.txt").write_text("user-3\n\n98765432109876543210\n")
    rows = read_tsv(recommend(tmp / "run", tmp / "some.tsv", users_file=tmp / "users.txt", k=5))
    assert [r["user"] for r in rows] == ["user-3"] * 5 + ["98765432109876543210"] * 5
    (tmp / "bad.txt").write_text("user-3\nnobody\n")
    with pytest.raises(DataError, match=r"bad.txt, line 2: user id 'nobody' never appeared"):
        recommend(tmp / "run", tmp / "x.tsv", users_file=tmp / "bad.txt")
    out = recommend(tmp / "run", fmt="json", k=3)
    data = json.loads(Path(out).read_text())
    assert len(data["recommendations"][0]["items"]) == 3


def test_cli_unknown_user_is_one_line(trained):
    tmp, _, _, _ = trained
    (tmp / "bad.txt").write_text("nobody\n")
    proc = subprocess.run([sys.executable, str(ROOT / "recommend.py"), str(tmp / "run"),
                           "--users", str(tmp / "bad.txt")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "user id 'nobody' never appeared" in proc.stderr


def test_metrics_recomputed_from_the_tsv_equal_results_json(trained):
    tmp, results, _, test = trained
    rows = read_tsv(recommend(tmp / "run"))
    # an independent recomputation: LightGCN's Recall@20 and NDCG@20 from the files alone
    ranked = {}
    for r in rows:
        ranked.setdefault(r["user"], []).append(r["item"])
    heldout = {}
    for u, i in test:
        heldout.setdefault(u, set()).add(i)
    recall = ndcg = 0.0
    for u, relevant in heldout.items():
        top = ranked[u][:20]
        hits = [item in relevant for item in top]
        recall += sum(hits) / len(relevant)
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        ndcg += dcg / sum(1 / math.log2(r + 2) for r in range(min(20, len(relevant))))
    assert recall / len(heldout) == pytest.approx(results["test"]["recall@20"], abs=1e-6)
    assert ndcg / len(heldout) == pytest.approx(results["test"]["ndcg@20"], abs=1e-6)
