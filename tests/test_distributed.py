"""Several processes (gloo on CPU, 2 processes spawned by the test as torchrun would): α is
bitwise identical on every process, 2 processes with batch b train as 1 process with batch 2b,
a killed-and-resumed 2-process search equals a straight one, and torchrun runs train.py."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import recnas.supernet.search as search_module
from recnas.runtime import distributed
from recnas.runtime.checkpoint import CheckpointError
from recnas.app.config import RunConfig
from recnas.runtime.errors import ConfigError
from recnas.app.jobs import run
from recnas.supernet.derive import derive

from helpers import kill_after_save, small_dataset

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(job, *args, processes=2):
    """Run ``job(rank, *args)`` in each of ``processes`` new processes joined by gloo, with the
    environment torchrun gives its processes."""
    mp.spawn(_process, args=(processes, free_port(), job, args), nprocs=processes, join=True)


def _process(rank, processes, port, job, args):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(processes),
                      LOCAL_WORLD_SIZE=str(processes), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    assert distributed.setup("cpu") == "gloo"
    try:
        job(rank, *args)
    finally:
        distributed.teardown()


def _search_keeping_alpha(rank, config, out):
    """A search; each process saves the α it derived from and the genotype it derived."""
    real_finish = search_module._finish

    def finish(model, *args):
        alphas = [a.detach().clone() for a in model.arch_parameters()]
        results = real_finish(model, *args)
        torch.save({"alphas": alphas, "genotype": results["genotype"]}, out / f"rank{rank}.pt")
        return results

    search_module._finish = finish
    run(config)


def _search_killed_after_epoch(rank, config, epoch):
    """A search whose processes all die right after the checkpoint of ``epoch``."""
    kill_after_save(pytest.MonkeyPatch(), lambda state: state["epoch"] == epoch)
    run(config)


def _run(rank, config, resume=False):
    run(config, resume=resume)


def small_config(tmp_path, mode, out, **overrides):
    settings = dict(dataset=str(small_dataset(tmp_path / "inter.txt", n_users=60, n_items=40)),
                    out=str(tmp_path / out), device="cpu", dim=8, gat_heads=2)
    if mode == "search":
        settings.update(epochs=3, warmup_epochs=1, nodes=2)
    settings.update(overrides)
    return RunConfig.from_flat(mode, **settings)


def checkpoint_of(run_dir):
    return torch.load(Path(run_dir) / "checkpoint.pt", weights_only=False)


@pytest.mark.parametrize("order", [1, 2])
def test_alpha_is_identical_on_every_process_and_matches_one_process_of_twice_the_batch(
        tmp_path, order):
    two = small_config(tmp_path, "search", "two", order=order, batch_size=16)
    spawn(_search_keeping_alpha, two, tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert all(torch.equal(a, b) for a, b in zip(ranks[0]["alphas"], ranks[1]["alphas"]))
    assert ranks[0]["genotype"] == ranks[1]["genotype"]
    results = json.loads((tmp_path / "two" / "results.json").read_text())
    assert results["processes"] == 2 and results["genotype"] == ranks[0]["genotype"]
    derived = derive(tmp_path / "two")            # derive.py, one process, reads it as well
    assert derived.to_dict()["nodes"] == results["genotype"]["nodes"]

    one = run(small_config(tmp_path, "search", "one", order=order, batch_size=32))
    state_one, state_two = checkpoint_of(tmp_path / "one"), checkpoint_of(tmp_path / "two")
    assert state_one["history"][-1]["alpha_steps"] == state_two["history"][-1]["alpha_steps"]
    for key, value in state_one["model"].items():   # α and weights; float sums in another order
        torch.testing.assert_close(state_two["model"][key], value, rtol=1e-4, atol=1e-6)
    for h1, h2 in zip(state_one["history"], state_two["history"]):
        assert h2["train_loss"] == pytest.approx(h1["train_loss"], rel=1e-5)
        assert h2["val_recall@20"] == pytest.approx(h1["val_recall@20"], abs=1e-6)
    assert one["genotype"] == results["genotype"]


@pytest.mark.parametrize("loss", ["softmax", "bpr"])
def test_two_processes_with_batch_b_retrain_as_one_process_with_batch_2b(tmp_path, loss):
    flags = dict(genotype="lightgcn", epochs=6, eval_every=2, loss=loss, l2=1e-2, dropout=0.1)
    spawn(_run, small_config(tmp_path, "retrain", "two", batch_size=24, **flags))
    one = run(small_config(tmp_path, "retrain", "one", batch_size=48, **flags))
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert len(one["history"]) == len(two["history"]) == 6
    for h1, h2 in zip(one["history"], two["history"]):
        assert h2["train_loss"] == pytest.approx(h1["train_loss"], rel=1e-5)
        for name in ("val_recall@20", "val_ndcg@20"):
            assert h2.get(name) == pytest.approx(h1.get(name), abs=1e-6)
    for split in ("val", "test"):
        for name, value in one[split].items():
            assert two[split][name] == pytest.approx(value, abs=1e-6)
    assert two["processes"] == 2 and one["processes"] == 1


def test_random_search_on_two_processes_tries_what_one_process_of_twice_the_batch_tries(
        tmp_path):
    flags = dict(trials=3, epochs=4, eval_every=2, sample_settings=True)
    spawn(_run, small_config(tmp_path, "random_search", "two", batch_size=24, **flags))
    one = run(small_config(tmp_path, "random_search", "one", batch_size=48, **flags))
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert len(one["trials"]) == len(two["trials"]) == 3
    for t1, t2 in zip(one["trials"], two["trials"]):
        assert (t1["genotype"], t1["dim"], t1["epoch"]) == (t2["genotype"], t2["dim"], t2["epoch"])
        assert t2["value"] == pytest.approx(t1["value"], abs=1e-6)
    assert two["genotype"] == one["genotype"]


def test_a_killed_and_resumed_two_process_search_equals_a_straight_one(tmp_path):
    spawn(_run, small_config(tmp_path, "search", "straight", batch_size=16))
    killed = small_config(tmp_path, "search", "killed", batch_size=16)
    with pytest.raises(mp.ProcessRaisedException, match="Killed"):
        spawn(_search_killed_after_epoch, killed, 2)
    assert checkpoint_of(killed.out)["epoch"] == 2
    with pytest.raises(CheckpointError, match="run of 2 process.*resumed with 1"):
        run(killed, resume=True)                 # one process would train other batches
    spawn(_run, killed, True)
    straight, resumed = checkpoint_of(tmp_path / "straight"), checkpoint_of(killed.out)
    assert straight["epoch"] == resumed["epoch"] == 3
    for key, value in straight["model"].items():
        assert torch.equal(resumed["model"][key], value), key
    untimed = [[{k: v for k, v in h.items() if k not in ("train_seconds", "seconds")}
                for h in state["history"]]
               for state in (straight, resumed)]
    assert untimed[0] == untimed[1]


def test_torchrun_runs_the_main_job_on_two_processes(tmp_path):
    """The README's command, small: search -> selection -> retraining, rank 0 writing."""
    data = small_dataset(tmp_path / "inter.txt", n_users=60, n_items=40)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(ROOT / "train.py"), "--then-select",
               "--dataset", str(data), "--out", str(out), "--device", "cpu", "--dim", "8",
               "--nodes", "2", "--gat-heads", "2", "--epochs", "1", "--first-epochs", "1",
               "--selection-trials", "8", "--patience", "2", "--batch-size", "32"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "retrain" / "results.json").read_text())
    assert results["processes"] == 2 and results["test"]["recall@20"] >= 0
    assert (out / "selection" / "selection.json").exists()
    assert done.stdout.count("selection: winner") == 1            # process 0 alone reports


def test_more_processes_than_gpus_is_one_line(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="process 1 on this machine needs GPU 1, but torch sees 1"):
        distributed.setup("cuda")
    assert not distributed.active()
