"""The command lines' contract: --epochs 0 writes results.json; bad input, bad flags and bad
values are one line on stderr (exit status 2) and leave nothing on disk; every option has a
help line that shows its default once; no abbreviations."""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import small_dataset

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


CLIS = ("train", "derive", "recommend")


def cli(name, *args):
    return subprocess.run([sys.executable, str(ROOT / f"{name}.py"), *args], capture_output=True,
                          text=True, cwd=ROOT)


def assert_one_line_error(proc, *phrases):
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for phrase in phrases:
        assert phrase in lines[0]


@pytest.mark.parametrize("name", CLIS)
def test_every_option_has_help_and_one_default(name):
    parser = importlib.import_module(name).build_parser()
    for action in parser._actions:
        assert action.help, action.dest
        assert action.help.replace("%(default)s", "").count("default") <= 1, action.help
    assert "(default: None)" not in parser.format_help()


def test_abbreviations_are_refused():
    assert_one_line_error(run_cli("--epoch", "2"), "unrecognized arguments: --epoch 2")


@pytest.mark.parametrize("name, args", [("train", ["--device", "gpu"]),
                                        ("derive", ["some-run", "--device", "gpu"]),
                                        ("recommend", ["some-run", "--device", "gpu"])])
def test_bad_device_is_one_line(name, args):
    assert_one_line_error(cli(name, *args), "--device")


def test_cuda_without_cuda_is_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert_one_line_error(cli("recommend", str(tmp_path), "--device", "cuda"), "no CUDA device")
    assert_one_line_error(run_cli("--device", "cuda", "--out", str(tmp_path / "r")),
                          "no CUDA device")


def test_unknown_genotype_lists_the_built_ins_and_leaves_no_directory(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("--genotype", "LightGCN", "--out", str(out), "--device", "cpu")
    assert_one_line_error(proc, "LightGCN", "lightgcn, gcn, sage, gat, mf")
    assert not out.exists()


@pytest.mark.parametrize("flags, phrase", [(["--ops", "conv9"], "candidate ops"),
                                           (["--dim", "10", "--gat-heads", "4"], "divisible"),
                                           (["--strategy", "random"], "--trials"),
                                           (["--genotype", "lightgcn", "--dropout", "1.5"],
                                            "--dropout"),
                                           (["--strategy", "evolution", "--tournament", "30"],
                                            "--tournament <= --population"),
                                           (["--strategy", "reinforce", "--baseline-decay", "1"],
                                            "--baseline-decay"),
                                           (["--then-select", "--selection-trials", "0"],
                                            "--selection-trials"),
                                           (["--then-select", "--eta", "1"], "--eta >= 2"),
                                           (["--then-select", "--workers", "0"], "--workers")])
def test_bad_values_leave_no_directory(tmp_path, flags, phrase):
    out = tmp_path / "run"
    assert_one_line_error(run_cli(*flags, "--out", str(out), "--device", "cpu"), phrase)
    assert not out.exists()


def test_then_retrain_runs_the_whole_chain_and_can_be_run_again(tmp_path):
    data = small_dataset(tmp_path / "inter.txt")
    flags = ["--dataset", str(data), "--then-retrain", "--epochs", "1", "--patience", "1",
             "--dim", "8", "--nodes", "2", "--gat-heads", "2", "--batch-size", "64",
             "--device", "cpu"]
    for _ in range(2):
        proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *flags],
                              capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2
    for run_dir in runs:
        assert (run_dir / "genotype.json").exists() and (run_dir / "retrain" / "model.pt").exists()
        assert json.loads((run_dir / "retrain" / "results.json").read_text())["mode"] == "retrain"


def test_threads_and_busy_cores():
    from recnas.runtime.progress import busy_cores, set_threads
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time
        time.sleep(0.5)
        assert busy_cores() >= 0.5            # the spinner holds one core
    finally:
        spinner.kill()
