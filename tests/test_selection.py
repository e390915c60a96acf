"""The selection on Optuna: planted problems (trainings replaced by known validation curves), a
study killed mid-trial and resumed, two workers on one SQLite and one PostgreSQL study, and the
main job end to end on a tiny dataset (reproducible under load, the final model on train +
validation, test read once)."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
import torch

from helpers import small_dataset

ROOT = Path(__file__).resolve().parent.parent


def tiny_config(tmp_path, **flat):
    from recnas.app.config import RunConfig
    settings = dict(dataset=str(small_dataset(tmp_path / "r.txt")), device="cpu", dim=8,
                    batch_size=64, patience=3, epochs=60, first_epochs=2, eta=3,
                    out=str(tmp_path / "run"))
    settings.update(flat)
    return RunConfig.from_flat("search", then_select=True, **settings)


def planted_trainer(curve):
    """A stand-in for selection.train_candidate: the validation Recall@K after each epoch is
    ``curve(genotype, epoch)`` (early stopping as fit's, on those numbers)."""
    from recnas.training.fit import EarlyStopping, FitProgress

    def train_candidate(genotype, data, graph, config, device, evaluator, label="",
                        writer=None, on_validation=None, time_limit=None):
        k = config.topk[0]
        progress = FitProgress(stopping=EarlyStopping(config.retrain.patience, f"recall@{k}"))
        stub = torch.nn.Linear(1, 1)
        while not progress.stopping.stopped and progress.epoch < config.retrain.epochs:
            progress.epoch += 1
            value = round(curve(genotype, progress.epoch), 4)
            progress.stopping.update(progress.epoch, {f"recall@{k}": value,
                                                      f"ndcg@{k}": value}, stub)
            progress.history.append({"epoch": progress.epoch, f"val_recall@{k}": value})
            if on_validation is not None:
                on_validation(progress.epoch, progress.stopping.best_metrics[f"recall@{k}"])
        return stub, progress
    return train_candidate


def cells_of(names, dim=8):
    from recnas.models.genotype import builtin
    cells = {}
    for i, name in enumerate(names):
        cell = builtin(["lightgcn", "gcn", "sage", "gat", "mf"][i % 5], dim, 2)
        cell.dim = dim
        cells[name] = cell
    return cells


def cell_of(genotype, cells):
    return next(name for name, cell in cells.items() if cell.nodes == genotype.nodes
                and cell.aggregation == genotype.aggregation)


# --- planted problems ------------------------------------------------------------------------

def test_a_slow_starter_that_ends_best_wins_and_no_winner_is_below_the_incumbent(
        tmp_path, monkeypatch):
    """Cells whose curves cross: "fast" leads for 20 epochs and stops at 0.30; "slow" creeps to
    0.10 in 20 epochs, then climbs to 0.45. Successive halving from 2 epochs would drop "slow" in
    its first round; every cell's run-settings trial is trained unpruned to its early stop, so
    the study finds it. The sampler's trials (settings that only slow learning down) are
    pruned or lose; the winner has ended by early stopping and beats the incumbent."""
    from recnas.app import pipeline
    from recnas.training import selection
    cells = cells_of(["lightgcn", "fast", "slow"])

    def curve(genotype, epoch):
        name = cell_of(genotype, cells)
        slowdown = 1.0 if genotype.hyperparameters.get("lr") == 5e-3 else 0.5
        top = {"lightgcn": 0.25, "fast": 0.30, "slow": 0.45}[name] * slowdown
        if name == "slow":
            return 0.005 * epoch if epoch <= 20 else min(top, 0.1 + 0.035 * (epoch - 20))
        return min(top, 0.1 + 0.05 * epoch)

    monkeypatch.setattr(selection, "train_candidate", planted_trainer(curve))
    config = tiny_config(tmp_path, selection_trials=12)
    record = pipeline.select(config, cells, tmp_path / "select", torch.device("cpu"))
    trials = record["all_trials"]
    assert record["winner"]["cell"] == "slow" and record["winner"]["value"] == 0.45
    assert record["winner"]["epoch"] == 30
    assert trials[record["winner"]["number"]]["state"] == "complete"
    assert record["incumbent"]["value"] == 0.25 <= record["winner"]["value"]
    assert [t["params"]["cell"] for t in trials[:3]] == ["lightgcn", "fast", "slow"]
    assert all(t["unpruned"] and t["state"] == "complete" for t in trials[:3])
    assert record["trials"]["pruned"] >= 1                   # the pruner did prune
    assert record["trials"]["finished"] == len(trials) == 12
    # what a plain successive halving from 2 epochs would have kept after its first round
    at_2 = {name: curve(replace(cells[name], hyperparameters={"lr": 5e-3}), 2)
            for name in cells}
    assert max(at_2, key=at_2.get) != "slow"


def test_tpe_and_hyperband_find_the_best_of_a_planted_objective(tmp_path, monkeypatch):
    """A smooth objective over lr, L2 and width, learnt at a speed that does not depend on it:
    40 trials of TPE with Hyperband come within 3 % of the optimum (0.5 at lr 3e-3, L2 1e-4,
    width 128) and train fewer than 60 % of the epochs 40 unpruned trials would, while 40
    random draws with the same pruner stay further from it."""
    import math
    from recnas.app import pipeline
    from recnas.training import selection
    cells = cells_of(["lightgcn"])

    def final(g):
        h = g.hyperparameters
        return 0.48 - 0.1 * (math.log10(h["lr"] / 3e-3)) ** 2 \
            - 0.02 * (math.log10(h["l2"] / 1e-4)) ** 2 + 0.02 * (g.dim == 128)

    monkeypatch.setattr(selection, "train_candidate", planted_trainer(
        lambda g, epoch: final(g) * min(1.0, epoch / 20)))
    best = {}
    for sampler in ("tpe", "random"):
        config = tiny_config(tmp_path, selection_trials=40, sampler=sampler, study_name=sampler)
        record = pipeline.select(config, cells, tmp_path / sampler, torch.device("cpu"))
        best[sampler] = record["winner"]["value"]
        epochs = sum(t["epochs_trained"] for t in record["all_trials"])
        assert epochs < 0.6 * 40 * 23                 # 20 epochs to the top + patience 3
    assert best["tpe"] >= 0.97 * 0.5 and best["tpe"] > best["random"]


def test_a_trial_cut_by_the_wall_clock_cap_cannot_win(tmp_path, monkeypatch):
    """A cap that ends the study in its first trial: that trial is cut, recorded as such, and
    the selection says the winner is a cut trial because nothing else finished."""
    from recnas.app import pipeline
    from recnas.training import selection
    cells = cells_of(["lightgcn", "gcn"])
    trainer = planted_trainer(lambda g, epoch: min(0.3, 0.01 * epoch))

    def slow_trainer(*args, time_limit=None, **kwargs):      # the cap is reached in epoch 1
        assert time_limit is not None
        model, progress = trainer(*args, **kwargs)
        progress.epoch = 1
        progress.stopping.stopped_early = False
        progress.stopping.bad_evaluations = 0
        return model, progress

    monkeypatch.setattr(selection, "train_candidate", slow_trainer)
    config = tiny_config(tmp_path, selection_trials=5, selection_seconds=1e-9)
    record = pipeline.select(config, cells, tmp_path / "select", torch.device("cpu"))
    assert record["cut"] and record["trials"]["finished"] == 1
    assert record["all_trials"][0]["stopped"] == "cut by the wall-clock cap"
    assert record["incumbent"] is None


# --- interruptions and workers ---------------------------------------------------------------

WORKER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import torch
    from test_selection import planted_trainer, cells_of, tiny_config, curve_for_workers
    from recnas.app import pipeline
    from recnas.training import selection
    from recnas.runtime.progress import setup_logging
    setup_logging()
    tmp, storage, study_name, role, sleep, hang_in = sys.argv[1:7]
    trainer = planted_trainer(curve_for_workers)

    def train_candidate(genotype, *args, on_validation=None, **kwargs):
        def report(epoch, best):
            time.sleep(float(sleep))
            if hang_in != "-" and epoch == 2 and len(open(tmp + "/count").read()) == int(hang_in):
                open(tmp + "/hanging", "w").write("x")
                time.sleep(600)
            on_validation(epoch, best)
        open(tmp + "/count", "a").write("x")
        return trainer(genotype, *args, on_validation=report, **kwargs)

    selection.train_candidate = train_candidate
    from pathlib import Path
    config = tiny_config(Path(tmp), selection_trials=8, storage=storage, study_name=study_name)
    cells = cells_of(["lightgcn", "gcn", "sage"])
    if role == "make":
        pipeline.select(config, cells, Path(tmp) / "select", torch.device("cpu"))
    else:
        pipeline.work(config, Path(tmp) / "select", torch.device("cpu"))
""")


def curve_for_workers(genotype, epoch):
    return min(0.2 + 0.1 * genotype.hyperparameters["lr"] * 100, 0.05 * epoch)


def start(tmp_path, storage, name, role, sleep=0.0, hang_in="-"):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=str(Path(__file__).parent)))
    (tmp_path / "count").touch()
    return subprocess.Popen([sys.executable, str(script), str(tmp_path), storage, name, role,
                             str(sleep), hang_in], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finished_trials(storage, name):
    study = optuna.load_study(study_name=name, storage=storage)
    return study, [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]


def test_a_study_killed_mid_trial_and_resumed_loses_and_repeats_no_trial(tmp_path):
    """SIGKILL in the 5th trial's second epoch, then the same selection again: the killed trial
    is failed and queued again with its parameters, and the study ends with the 8 trials of a
    run never killed, in the same order, none lost, none twice."""
    from recnas.training import selection
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    for d in (straight_dir, killed_dir):
        d.mkdir()
    url = lambda d: selection.sqlite_url(d / "study.db")
    done = start(straight_dir, url(straight_dir), "s", "make")
    assert done.wait(timeout=300) == 0, done.stdout.read()
    victim = start(killed_dir, url(killed_dir), "s", "make", hang_in="5")
    deadline = time.time() + 300
    while not (killed_dir / "hanging").exists() and victim.poll() is None and \
            time.time() < deadline:
        time.sleep(0.1)
    assert (killed_dir / "hanging").exists(), victim.stdout.read()
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    study, _ = finished_trials(url(killed_dir), "s")
    assert [t.state.name for t in study.trials][:5] == ["COMPLETE"] * 4 + ["RUNNING"]
    resumed = start(killed_dir, url(killed_dir), "s", "make")
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read()
    _, straight = finished_trials(url(straight_dir), "s")
    study, again = finished_trials(url(killed_dir), "s")
    assert len(again) == len(straight) == 8
    assert [t.params for t in again] == [t.params for t in straight]
    assert [t.value for t in again] == [t.value for t in straight]
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert [t.number for t in failed] == [4]
    retry = [t for t in again if t.system_attrs.get("failed_trial") == 4]
    assert len(retry) == 1 and retry[0].params == failed[0].params


def postgres_url(tmp_path):
    """A throw-away PostgreSQL server on a local port (Debian's binaries; as root, run as the
    postgres user); its URL and a stop function, or a skip where there is none."""
    import glob
    import shutil
    import socket
    pytest.importorskip("psycopg")
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or \
        ([shutil.which("initdb")] if shutil.which("initdb") else [])
    if not found:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
    bindir = Path(found[-1]).parent
    as_user = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser to start PostgreSQL as another user")
        as_user = ["runuser", "-u", "postgres", "--"]
    import tempfile
    home = Path(tempfile.mkdtemp(prefix="recnas-pg-"))    # outside pytest's 0700 directories
    os.chmod(home, 0o755)
    data = home / "data"
    data.mkdir()
    if as_user:
        shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(data), "-U", "recnas",
                              "--auth=trust"], check=True, capture_output=True)
    subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l",
                              str(data / "log"), "-o",
                              f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    def stop():
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                  "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    return f"postgresql+psycopg://recnas@127.0.0.1:{port}/postgres", stop


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_workers_on_one_study_complete_disjoint_trials(tmp_path, database):
    """One process makes the study and a second joins it: 8 trials in all (9 when both start
    the last one at the same moment), each run by one of them, both run some, and the maker
    picks the winner after the other's last trial."""
    from recnas.training import selection
    stop = None
    if database == "sqlite":
        url = selection.sqlite_url(tmp_path / "study.db")
    else:
        url, stop = postgres_url(tmp_path)
    try:
        maker = start(tmp_path, url, "shared", "make", sleep=0.15)
        deadline = time.time() + 120
        while time.time() < deadline and not (
                "shared" in optuna.study.get_all_study_names(url) and
                optuna.load_study(study_name="shared", storage=url).user_attrs.get("cells")):
            time.sleep(0.2)
        helper = start(tmp_path, url, "shared", "join", sleep=0.15)
        assert helper.wait(timeout=300) == 0, helper.stdout.read()
        assert maker.wait(timeout=300) == 0, maker.stdout.read()
        study, done = finished_trials(url, "shared")
        workers = [t.user_attrs["worker"]["pid"] for t in done]
        assert 8 <= len(done) <= 9 and len(set(t.number for t in done)) == len(done)
        assert set(workers) == {maker.pid, helper.pid}
        assert not [t for t in study.trials if t.state.name not in ("COMPLETE", "PRUNED")]
        record = json.loads((tmp_path / "select" / "selection.json").read_text())
        assert record["trials"]["finished"] == len(done)
    finally:
        if stop is not None:
            stop()


# --- the main job, end to end ----------------------------------------------------------------

def main_job_flags(dataset, out, *more):
    return ["--dataset", str(dataset), "--then-select", "--alternatives", "1",
            "--selection-trials", "9", "--first-epochs", "1", "--epochs", "2",
            "--warmup-epochs", "1", "--patience", "2", "--dim", "8", "--nodes", "2",
            "--gat-heads", "2", "--batch-size", "64", "--device", "cpu", "--threads", "1",
            "--out", str(out), *more]


def test_the_main_job_repeats_under_load_and_its_final_model_sees_train_and_validation(
        tmp_path, monkeypatch):
    """Two runs with the same seed and threads, one beside a busy process: the same trials,
    winner and test. No trial sees the test split; the final model trains on train +
    validation for the winner's epochs; test is scored once, at the end."""
    import recnas.train as train
    from recnas.training import retrain, selection
    dataset = small_dataset(tmp_path / "inter.txt")
    seen_by_trials, seen_by_final = [], []
    real_trial, real_fit = selection.train_candidate, retrain.fit

    def spy_trial(genotype, data, *args, **kwargs):
        seen_by_trials.append((len(data.train), len(data.val), len(data.test)))
        return real_trial(genotype, data, *args, **kwargs)

    def spy_fit(model, graph, pairs, *args, **kwargs):
        seen_by_final.append(len(pairs))
        return real_fit(model, graph, pairs, *args, **kwargs)

    monkeypatch.setattr(selection, "train_candidate", spy_trial)
    monkeypatch.setattr(retrain, "fit", spy_fit)
    assert train.main(main_job_flags(dataset, tmp_path / "quiet")) == 0
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert train.main(main_job_flags(dataset, tmp_path / "busy")) == 0
    finally:
        busy.kill()
    read = lambda run, name: json.loads((tmp_path / run / name).read_text())
    quiet, loaded = read("quiet", "selection/selection.json"), read("busy",
                                                                    "selection/selection.json")
    strip = lambda record: [{k: v for k, v in t.items() if k != "seconds"}
                            for t in record["all_trials"]]
    assert strip(quiet) == strip(loaded) and quiet["winner"] == loaded["winner"]
    a, b = read("quiet", "retrain/results.json"), read("busy", "retrain/results.json")
    assert a["test"] == b["test"] and a["refit"] and a["epoch"] == quiet["winner"]["epoch"]
    train_rows, val_rows, test_rows = seen_by_trials[0]
    assert {s[2] for s in seen_by_trials} == {0} and val_rows > 0       # trials: no test
    assert seen_by_final == [train_rows + val_rows] * 2                 # the final: train + val
    assert quiet["incumbent"]["value"] <= quiet["winner"]["value"]


def test_final_train_only_trains_the_winner_as_a_plain_retraining(tmp_path):
    """--final-train-only: the final model is the winner retrained on the training rows with
    early stopping, the same as `train.py --genotype selection/genotype.json`."""
    import recnas.train as train
    dataset = small_dataset(tmp_path / "inter.txt")
    out = tmp_path / "run"
    assert train.main(main_job_flags(dataset, out, "--final-train-only")) == 0
    results = json.loads((out / "retrain" / "results.json").read_text())
    assert not results["refit"]
    assert train.main(["--dataset", str(dataset), "--genotype",
                       str(out / "selection" / "genotype.json"), "--patience", "2",
                       "--gat-heads", "2", "--batch-size", "64", "--device", "cpu",
                       "--threads", "1", "--out", str(tmp_path / "fresh")]) == 0
    fresh = json.loads((tmp_path / "fresh" / "results.json").read_text())
    assert (results["epoch"], results["val"], results["test"]) == \
        (fresh["epoch"], fresh["val"], fresh["test"])
    record = json.loads((out / "selection" / "selection.json").read_text())
    assert results["val"] == record["winner"]["val"]


def test_two_local_workers_share_the_main_jobs_study(tmp_path):
    """--workers 2: a second process on this machine runs trials of the same study; the
    budget is the study's, not each worker's (two trials that start at the same moment may
    both run: at most workers - 1 past it)."""
    import recnas.train as train
    out = tmp_path / "run"
    assert train.main(main_job_flags(small_dataset(tmp_path / "inter.txt"), out,
                                     "--workers", "2", "--selection-trials", "12")) == 0
    record = json.loads((out / "selection" / "selection.json").read_text())
    study = optuna.load_study(study_name="recnas-selection", storage=record["storage"])
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == record["trials"]["finished"] and 12 <= len(done) <= 13
    assert len({t.user_attrs["worker"]["pid"] for t in done}) == 2
    assert {"history.html", "importances.html", "parallel.html"} <= \
        set(os.listdir(out / "selection" / "plots"))
