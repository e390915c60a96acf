"""LightGCN in its own setting: the built-in `lightgcn` genotype on LightGCN's Gowalla split with
the paper's hyper-parameters (d 64, lr 1e-3, L2 1e-4, batch 2048, 3 layers), the epoch chosen on
validation Recall@20, then (default) a refit on train + validation for that many epochs; test
Recall@20 / NDCG@20 against the paper's 0.1830 / 0.1554.

The run directory checkpoints as it trains: re-running the same command continues a run that
was cut off (e.g. by a per-command time limit). ``--report`` only writes the table of the run so
far (its validation curve, read from the checkpoint), without training.

    python benchmarks/gowalla_lightgcn.py --device cuda          # train (or continue), then report
    python benchmarks/gowalla_lightgcn.py --report               # the curve of a run in progress
"""
import argparse
import json
from pathlib import Path

import torch

from common import save_table
from recnas.data.graph import BipartiteGraph
from recnas.data.interactions import load_interactions
from recnas.evaluation.metrics import score_test
from recnas.runtime.checkpoint import CHECKPOINT
from recnas.app.config import RunConfig
from recnas.app.jobs import run
from recnas.runtime.progress import format_seconds, setup_logging
from recnas.models.genotype import resolve
from recnas.training.retrain import new_model, representations

PAPER = {"recall@20": 0.1830, "ndcg@20": 0.1554}


def paper_config(args):
    return RunConfig.from_flat("retrain", dataset=args.dataset, out=args.out,
                               device=args.device, genotype="lightgcn", dim=64, lr=1e-3, l2=1e-4,
                               batch_size=2048, epochs=args.epochs, eval_every=args.eval_every,
                               patience=args.patience, refit=not args.no_refit)


def load_state(run_dir):
    return torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=False)


def curve(state, finished):
    """(selection history, refit history, phase) of the run so far."""
    progress = state["fit"]["progress"]
    if state["phase"] == "select":
        return progress["history"], [], "done" if finished else "selection"
    return state["selection"]["history"], progress["history"], "done" if finished else "refit"


def interim_test(state, config):
    """(epoch, test metrics) of the selection phase's best weights so far. Reported only to show
    progress; no choice is made with it (the epoch is chosen on validation)."""
    stopping = state["fit"]["progress"]["stopping"]
    if state["phase"] != "select" or stopping["best_state"] is None:
        return None
    config = RunConfig.from_dict(config)
    data = load_interactions(config.data, config.seed)
    graph = BipartiteGraph.from_pairs(data.train, data.n_users, data.n_items)
    model = new_model(resolve(config.retrain.genotype, config.train.dim), data, config, "cpu")
    model.load_state_dict(stopping["best_state"])
    return stopping["best_epoch"], score_test(representations(model, graph), data, config, "cpu")


def device_label(config, results_path):
    """cpu or cuda: where the run trained (results.json), else where its config says."""
    device = (json.loads(results_path.read_text())["device"] if results_path.exists()
              else config["device"])
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return device.split(":")[0]


def report(run_dir, report_only):
    config = json.loads((run_dir / "config.json").read_text())
    results_path = run_dir / "results.json"
    state = load_state(run_dir)
    selection, refit, phase = curve(state, results_path.exists())
    rows = [(h["epoch"], f"{h['train_loss']:.4f}", f"{h['val_recall@20']:.4f}",
             f"{h['val_ndcg@20']:.4f}", format_seconds(h["seconds"]))
            for h in selection if "val_recall@20" in h]
    last = selection[-1] if selection else None
    notes = [f"Run directory `{run_dir}` ({phase}); its config: lr {config['lr']}, "
             f"l2 {config['l2']}, batch {config['batch_size']}, d {config['dim']}, "
             f"eval every {config['eval_every']} epochs, patience {config['patience']}, "
             f"refit {config['refit']}, device {config['device']}."]
    if report_only:
        notes.append("Written with --report from the run directory: the Machine line above is "
                     "the reporting process, not necessarily the one that trained.")
    if last is not None:
        notes.append(f"Selection phase: {last['epoch']} epochs in {format_seconds(last['seconds'])}"
                     f" ({last['seconds'] / last['epoch']:.1f} s per epoch including validation).")
    if refit:
        notes.append(f"Refit on train + validation: {refit[-1]['epoch']} epochs in "
                     f"{format_seconds(refit[-1]['seconds'])}.")
    if results_path.exists():
        results = json.loads(results_path.read_text())
        test = results["test"]
        notes.append(
            f"**Test** (epoch {results['epoch']} chosen on validation, refit {results['refit']}): "
            f"Recall@20 {test['recall@20']:.4f} (paper {PAPER['recall@20']}), NDCG@20 "
            f"{test['ndcg@20']:.4f} (paper {PAPER['ndcg@20']}); training time "
            f"{format_seconds(results['train_seconds'])} in all.")
    elif (interim := interim_test(state, config)) is not None:
        epoch, test = interim
        notes.append(f"Run in progress. Test of the best weights so far (epoch {epoch}, best on "
                     f"validation; shown for progress only, nothing is chosen with it): "
                     f"Recall@20 {test['recall@20']:.4f}, NDCG@20 {test['ndcg@20']:.4f} "
                     f"(paper {PAPER['recall@20']} / {PAPER['ndcg@20']}).")
    save_table(f"gowalla_lightgcn_{device_label(config, results_path)}",
               "Gowalla (LightGCN's split), `lightgcn` genotype, the paper's settings",
               ["epoch", "train loss", "val Recall@20", "val NDCG@20", "training time"], rows,
               notes)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="gowalla")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", default="runs/gowalla-lightgcn")
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--no-refit", action="store_true")
    p.add_argument("--report", action="store_true", help="only write the table of the run so far")
    args = p.parse_args()
    run_dir = Path(args.out)
    if not args.report:
        resume = (run_dir / CHECKPOINT).exists()
        config = (RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
                  if resume else paper_config(args))
        setup_logging()
        run(config, resume=resume)
    report(run_dir, args.report)


if __name__ == "__main__":
    main()
