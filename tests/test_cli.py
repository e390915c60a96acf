"""The train.py contract: --epochs 0 writes results.json; bad input is one line on stderr."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True,
                          text=True, cwd=ROOT)


def test_epochs_zero_evaluates_and_writes_results(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("--epochs", "0", "--out", str(out), "--topk", "10", "20", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "943 users, 1,682 items" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert len(results["dataset"].pop("fingerprint")) == 64
    assert results["dataset"] == {"name": "ml-100k", "users": 943, "items": 1682,
                                  "train": 71943, "val": 8057, "test": 20000}
    for split in ("val", "test"):
        for metric in ("recall", "ndcg", "precision", "hit"):
            for k in (10, 20):
                assert 0 <= results[split][f"{metric}@{k}"] <= 1
    assert results["wall_seconds"] > 0
    assert (out / "config.json").exists()


def test_bad_input_is_a_message_not_a_traceback(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("user,item,rating\n1,2,3\n1,3,nan\n")
    proc = run_cli("--dataset", str(bad), "--out", str(tmp_path / "run"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert f"{bad}, line 3" in proc.stderr and "not a finite number" in proc.stderr
