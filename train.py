"""recnas command line: `python train.py --help`."""
import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from data.errors import DataError, exit_status
from data.interactions import DataConfig
from data.readers import FORMATS
from supernet.config import RunConfig
from supernet.trainer import run

DEFAULTS = RunConfig()
RETRAIN_EPOCHS = 200


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="recnas: graph neural architecture search for recommendation",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="ml-100k",
                   help="bundled name (ml-100k, gowalla), a directory or an interactions file")
    d.add_argument("--test-file", help="a given test split for a single-file dataset")
    d.add_argument("--format", choices=FORMATS, help="input format (default: auto-detect)")
    d.add_argument("--min-rating", type=float, help="keep rows with rating >= R (default: all)")
    d.add_argument("--test-fraction", type=float, default=0.2,
                   help="per-user test share when no test split is given")
    d.add_argument("--val-fraction", type=float, default=0.1,
                   help="per-user validation share of the training rows")
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int, default=DEFAULTS.seed)
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), default=DEFAULTS.device)
    r.add_argument("--out", help="run directory (default runs/<timestamp>)")
    r.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR with its config.json (other flags ignored, "
                        "except --epochs to extend it)")
    r.add_argument("--topk", type=int, nargs="+", default=DEFAULTS.topk, help="cut-offs K")
    r.add_argument("--eval-chunk-size", type=int, default=DEFAULTS.eval_chunk_size,
                   help="users scored at once in full-ranking evaluation")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=None,
                   help=f"0 evaluates the untrained model (default: {DEFAULTS.epochs} for a "
                        f"search, {RETRAIN_EPOCHS} for retraining and random-search trials)")
    t.add_argument("--genotype", metavar="FILE|NAME",
                   help="retrain this architecture standalone: a genotype.json from derive.py "
                        "or a built-in: lightgcn, gcn, sage, gat, mf")
    t.add_argument("--eval-every", type=int, default=DEFAULTS.eval_every,
                   help="epochs between validation evaluations (retraining)")
    t.add_argument("--patience", type=int, default=DEFAULTS.patience,
                   help="evaluations without a better val recall before early stopping")
    t.add_argument("--refit", action="store_true",
                   help="after early stopping, retrain on train + val for the chosen epochs")
    t.add_argument("--checkpoint-seconds", type=float, default=DEFAULTS.checkpoint_seconds,
                   help="retraining: least seconds between checkpoints (a search saves "
                        "every epoch)")
    t.add_argument("--dim", type=int, default=DEFAULTS.dim, help="embedding width d")
    t.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    t.add_argument("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate of weights")
    t.add_argument("--l2", type=float, default=DEFAULTS.l2,
                   help="L2 on the batch's layer-0 embeddings")
    s = p.add_argument_group("search")
    s.add_argument("--nodes", type=int, default=DEFAULTS.n_nodes,
                   help="intermediate cell nodes K (like a K-layer GNN)")
    s.add_argument("--ops", nargs="+", default=DEFAULTS.ops, help="candidate ops on every edge")
    s.add_argument("--strategy", choices=("darts", "gdas", "random"), default=DEFAULTS.strategy,
                   help="random: sample and retrain architectures (needs --trials or "
                        "--budget-seconds)")
    s.add_argument("--trials", type=int, help="random search: architectures to try")
    s.add_argument("--budget-seconds", type=float, help="random search: wall-clock budget")
    s.add_argument("--order", type=int, choices=(1, 2), default=DEFAULTS.order,
                   help="1: first-order alpha gradient; 2: DARTS's unrolled gradient")
    s.add_argument("--warmup-epochs", type=int, default=DEFAULTS.warmup_epochs,
                   help="epochs in which only the weights train")
    s.add_argument("--arch-lr", type=float, default=DEFAULTS.arch_lr)
    s.add_argument("--arch-weight-decay", type=float, default=DEFAULTS.arch_weight_decay)
    s.add_argument("--unrolled-lr", type=float,
                   help="xi of the second-order virtual step (default: --lr)")
    s.add_argument("--tau-max", type=float, default=DEFAULTS.tau_max, help="GDAS start temperature")
    s.add_argument("--tau-min", type=float, default=DEFAULTS.tau_min, help="GDAS end temperature")
    s.add_argument("--gat-heads", type=int, default=DEFAULTS.gat_heads)
    s.add_argument("--gat-dropout", type=float, default=DEFAULTS.gat_dropout)
    return p.parse_args(argv)


def config_from_args(args):
    if args.resume:
        path = Path(args.resume) / "config.json"
        if not path.exists():
            raise DataError(path, "no config.json: not a recnas run directory")
        config = RunConfig.from_dict(json.loads(path.read_text()))
        config.out = args.resume
        if args.epochs is not None:
            config.epochs = args.epochs
        return config
    data = DataConfig(args.dataset, args.test_file, args.format, args.min_rating,
                      args.test_fraction, args.val_fraction, args.seed)
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if hasattr(args, f.name)}
    retraining = args.genotype or args.strategy == "random"
    default_epochs = RETRAIN_EPOCHS if retraining else DEFAULTS.epochs
    given.update(data=data, n_nodes=args.nodes,
                 epochs=default_epochs if args.epochs is None else args.epochs)
    return RunConfig(**given)


def main(argv=None):
    args = parse_args(argv)
    return exit_status(lambda: run(config_from_args(args), resume=bool(args.resume)))


if __name__ == "__main__":
    sys.exit(main())
