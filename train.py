"""recnas command line: `python train.py --help`."""
import json
import logging
import sys
from pathlib import Path

from data.readers import FORMATS
from runtime.config import RetrainConfig, RunConfig, SearchConfig, SelectConfig, TrainConfig
from runtime import distributed
from runtime.cli import ArgumentParser
from runtime.errors import DataError, exit_status
from runtime.jobs import run
from runtime.progress import set_threads, setup_logging
from supernet.genotype import HYPERPARAMETERS
from supernet.model import OP_WEIGHTS
from training.losses import LOSSES

RUN, TRAIN, SEARCH, RETRAIN = RunConfig(), TrainConfig(), SearchConfig(), RetrainConfig()
SELECT = SelectConfig()


def build_parser():
    p = ArgumentParser(description="recnas: graph neural architecture search for recommendation")
    for add_flags in (data_flags, run_flags, training_flags, search_flags):
        add_flags(p)
    return p


def data_flags(p):
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="ml-100k",
                   help="bundled name (ml-100k, gowalla), a directory or an interactions file "
                        "(default: %(default)s)")
    d.add_argument("--test-file", help="a given test split for a single-file dataset")
    d.add_argument("--format", choices=FORMATS, help="input format (default: auto-detect)")
    d.add_argument("--min-rating", type=float, help="keep rows with rating >= R (default: all)")
    d.add_argument("--test-fraction", type=float, default=0.2,
                   help="per-user test share when no test split is given (default: %(default)s)")
    d.add_argument("--val-fraction", type=float, default=0.1,
                   help="per-user validation share of the training rows (default: %(default)s)")


def run_flags(p):
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int, default=RUN.seed,
                   help="splits, sampling and initialization (default: %(default)s)")
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), default=RUN.device,
                   help="auto: CUDA when available (default: %(default)s)")
    r.add_argument("--out", help="run directory (default: runs/<timestamp>)")
    r.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR with its config.json (other flags ignored, "
                        "except --epochs to extend it)")
    r.add_argument("--topk", type=int, nargs="+", default=RUN.topk,
                   help="cut-offs K; the first one drives early stopping (default: 20)")
    r.add_argument("--threads", type=int,
                   help="CPU threads for torch (default: the cores this process may use, "
                        "shared out among torchrun's processes on this machine)")
    r.add_argument("--eval-chunk-size", type=int, default=RUN.eval_chunk_size,
                   help="users scored at once in full-ranking evaluation (default: %(default)s)")


def training_flags(p):
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=None,
                   help=f"0 evaluates the untrained model (default: {SEARCH.epochs} for a "
                        f"search, {RETRAIN.epochs} for retraining and random-search trials)")
    t.add_argument("--genotype", metavar="FILE|NAME",
                   help="retrain this architecture standalone: a genotype.json from derive.py "
                        "or a built-in: lightgcn, gcn, sage, gat, mf; a file's width and "
                        "hyper-parameters apply where no flag sets them")
    t.add_argument("--eval-every", type=int, default=RETRAIN.eval_every,
                   help="epochs between validation evaluations (default: %(default)s)")
    t.add_argument("--patience", type=int, default=RETRAIN.patience,
                   help="evaluations without a better val recall before early stopping "
                        "(default: %(default)s)")
    t.add_argument("--refit", action="store_true",
                   help="after early stopping, retrain on train + val for the chosen epochs")
    t.add_argument("--checkpoint-seconds", type=float, default=RETRAIN.checkpoint_seconds,
                   help="retraining: least seconds between checkpoints; a search saves every "
                        "epoch (default: %(default)s)")
    t.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="retraining: stop selecting the epoch after this many seconds of "
                        "training and validation; the best epoch so far is kept (default: none)")
    t.add_argument("--ignore-fingerprint", action="store_true",
                   help="retrain a genotype.json that was searched on other data")
    t.add_argument("--dim", type=int, default=TRAIN.dim,
                   help="embedding width d (default: %(default)s, or a genotype file's)")
    t.add_argument("--batch-size", type=int, default=TRAIN.batch_size,
                   help="positive pairs per step (default: %(default)s)")
    t.add_argument("--lr", type=float, default=TRAIN.lr,
                   help="Adam learning rate of the weights (default: %(default)s)")
    t.add_argument("--l2", type=float, default=TRAIN.l2,
                   help="L2 on the batch's layer-0 embeddings (default: %(default)s)")
    t.add_argument("--loss", choices=LOSSES, default=TRAIN.loss,
                   help="softmax: sampled softmax over --negatives shared negatives; bpr: one "
                        "negative per positive (LightGCN's loss); ccl: SimpleX's cosine "
                        "contrastive loss (default: softmax to retrain, bpr to search, each "
                        "chosen on validation on ml-100k and Gowalla; see the README)")
    t.add_argument("--negatives", type=int, default=TRAIN.negatives,
                   help="softmax / ccl: uniform negatives shared by each batch "
                        "(default: %(default)s)")
    t.add_argument("--temperature", type=float, default=TRAIN.temperature,
                   help="softmax: logits are scores / temperature (default: %(default)s)")
    t.add_argument("--margin", type=float, default=TRAIN.margin,
                   help="ccl: cosine margin below which negatives cost nothing "
                        "(default: %(default)s)")
    t.add_argument("--negative-weight", type=float, default=TRAIN.negative_weight,
                   help="ccl: weight of the negatives' term (default: %(default)s)")
    t.add_argument("--gat-heads", type=int, default=TRAIN.gat_heads,
                   help="attention heads of gat (default: %(default)s)")
    t.add_argument("--gat-dropout", type=float, default=TRAIN.gat_dropout,
                   help="dropout on gat's attention weights (default: %(default)s)")
    t.add_argument("--dropout", type=float, default=TRAIN.dropout,
                   help="retraining: message dropout, the share of each propagated node's "
                        "output zeroed in training (default: %(default)s)")


def search_flags(p):
    s = p.add_argument_group("search")
    s.add_argument("--nodes", type=int, default=SEARCH.nodes,
                   help="intermediate cell nodes K, like a K-layer GNN (default: %(default)s)")
    s.add_argument("--ops", nargs="+", default=SEARCH.ops,
                   help="candidate ops on every edge (default: all: %(default)s)")
    s.add_argument("--strategy", choices=("darts", "gdas", "evolution", "reinforce", "random"),
                   default=SEARCH.strategy,
                   help="darts: softmax mixtures and α; gdas: sampled paths and α; evolution: "
                        "the supernet trained on uniform paths (SPOS), then aging evolution "
                        "scoring genotypes with its weights; reinforce: a controller samples "
                        "the training paths and learns by policy gradient from their "
                        "validation recall; random: sample and retrain "
                        "architectures, needs --trials or --budget-seconds "
                        "(default: %(default)s)")
    s.add_argument("--op-weights", choices=OP_WEIGHTS, default=SEARCH.op_weights,
                   help="supernet op weights: one copy per source node, shared by its edges, "
                        "or one per edge as in DARTS (default: %(default)s)")
    s.add_argument("--then-retrain", action="store_true",
                   help="after the search, derive its genotype and retrain it standalone in "
                        "RUN_DIR/retrain (the whole main job in one command)")
    s.add_argument("--then-select", action="store_true",
                   help="after the search: searches with --search-seeds seeds, then the "
                        "selection stage over their cells, the nearest cells and the built-ins "
                        "with several training settings, then the winner's retraining "
                        "(RUN_DIR/selection, RUN_DIR/retrain)")
    s.add_argument("--search-seeds", type=int, default=SELECT.search_seeds,
                   help="--then-select: searches, seeds --seed, --seed + 1, ... "
                        "(default: %(default)s)")
    s.add_argument("--alternatives", type=int, default=SELECT.alternatives,
                   help="--then-select: nearest cells of each derived cell, by α "
                        "(default: %(default)s)")
    s.add_argument("--finalists", type=int, default=SELECT.finalists,
                   help="--then-select: cells that go on from the selection with the run's "
                        "settings to the selection of settings (default: %(default)s)")
    s.add_argument("--settings-samples", type=int, default=SELECT.settings_samples,
                   help="--then-select: random training settings per finalist cell, besides "
                        "the run's (default: %(default)s)")
    s.add_argument("--cells-first-epochs", type=int, default=SELECT.cells_first_epochs,
                   help="--then-select: epochs of the first round among cells (default: "
                        "%(default)s)")
    s.add_argument("--first-epochs", type=int, default=SELECT.first_epochs,
                   help="--then-select: epochs of the first round among settings (default: "
                        "%(default)s)")
    s.add_argument("--eta", type=int, default=SELECT.eta,
                   help="--then-select: each round keeps 1/eta of the candidates and trains "
                        "them eta times longer (default: %(default)s)")
    s.add_argument("--max-epochs", type=int, default=SELECT.max_epochs,
                   help="--then-select: epochs of the last round at most (default: %(default)s)")
    s.add_argument("--selection-seconds", type=float,
                   help="--then-select: wall budget of the selection; its rounds are shortened "
                        "to fit (default: --selection-ratio times the searches' seconds)")
    s.add_argument("--selection-ratio", type=float, default=SELECT.selection_ratio,
                   help="--then-select: without --selection-seconds, the selection's budget as "
                        "a multiple of the searches' seconds; 0: no budget (default: "
                        "%(default)s)")
    s.add_argument("--trials", type=int, help="random search: architectures to try")
    s.add_argument("--budget-seconds", type=float, help="random search: wall-clock budget")
    s.add_argument("--sample-settings", action="store_true",
                   help="random search: each trial also draws width, lr, L2, loss, temperature "
                        "and negatives (the settings --then-select searches)")
    s.add_argument("--population", type=int, default=SEARCH.population,
                   help="evolution: genotypes alive at once (default: %(default)s)")
    s.add_argument("--tournament", type=int, default=SEARCH.tournament,
                   help="evolution: members drawn per cycle; the fittest is copied with one "
                        "choice changed (default: %(default)s)")
    s.add_argument("--cycles", type=int, default=SEARCH.cycles,
                   help="evolution: cycles, each scores one new genotype; the oldest member "
                        "leaves (default: %(default)s)")
    s.add_argument("--controller-steps", type=int, default=SEARCH.controller_steps,
                   help="reinforce: controller updates per epoch after the warm-up, each on "
                        "one sampled path (default: %(default)s)")
    s.add_argument("--controller-lr", type=float, default=SEARCH.controller_lr,
                   help="reinforce: Adam learning rate of the controller (default: %(default)s)")
    s.add_argument("--entropy-weight", type=float, default=SEARCH.entropy_weight,
                   help="reinforce: weight of the policy's entropy bonus (default: %(default)s)")
    s.add_argument("--baseline-decay", type=float, default=SEARCH.baseline_decay,
                   help="reinforce: decay of the rewards' moving-average baseline "
                        "(default: %(default)s)")
    s.add_argument("--order", type=int, choices=(1, 2), default=SEARCH.order,
                   help="1: first-order α gradient; 2: DARTS's unrolled gradient "
                        "(default: %(default)s)")
    s.add_argument("--warmup-epochs", type=int, default=SEARCH.warmup_epochs,
                   help="epochs in which only the weights train (default: %(default)s)")
    s.add_argument("--warmup-paths", action="store_true",
                   help="in the warm-up, train each weight step on one uniformly sampled path "
                        "(one input, op and activation per node, as SPOS) instead of the full "
                        "mixture, so that every op's weights also work alone")
    s.add_argument("--arch-lr", type=float, default=SEARCH.arch_lr,
                   help="Adam learning rate of α (default: %(default)s)")
    s.add_argument("--arch-weight-decay", type=float, default=SEARCH.arch_weight_decay,
                   help="weight decay of α (default: %(default)s)")
    s.add_argument("--unrolled-lr", type=float,
                   help="xi of the second-order virtual step (default: --lr)")
    s.add_argument("--tau-max", type=float, default=SEARCH.tau_max,
                   help="GDAS start temperature (default: %(default)s)")
    s.add_argument("--tau-min", type=float, default=SEARCH.tau_min,
                   help="GDAS end temperature (default: %(default)s)")
    s.add_argument("--tau-epochs", type=int,
                   help="GDAS: epochs over which the temperature falls (default: --epochs)")


def config_from_args(args, given=frozenset()):
    """The run's config from parsed flags; ``given`` names the flags the command line set, so
    that a genotype file's own width and hyper-parameters fill the others."""
    if args.resume:
        path = Path(args.resume) / "config.json"
        if not path.exists():
            raise DataError(path, "no config.json: not a recnas run directory")
        config = RunConfig.from_dict(json.loads(path.read_text()))
        config.out = args.resume
        if args.epochs is not None:
            config.epochs = args.epochs
        return config
    values = dict(vars(args))
    for flag in ("resume", "epochs", "strategy", "threads"):
        values.pop(flag)
    if args.genotype:
        mode = "retrain"
        for name in ("dim", *HYPERPARAMETERS):
            if name not in given:
                values.pop(name)
    elif args.strategy == "random":
        mode = "random_search"
    else:
        mode, values["strategy"] = "search", args.strategy
    return RunConfig.from_flat(mode, epochs=args.epochs, **values)


def main(argv=None):
    parser, argv = build_parser(), sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    return exit_status(lambda: run_job(config_from_args(args, parser.given(argv)), args))


def run_job(config, args):
    """Run the job; launched by torchrun, as one of its processes (runtime/distributed.py)."""
    distributed.setup(config.device)
    try:
        setup_logging(logging.INFO if distributed.is_main() else logging.WARNING)
        set_threads(args.threads)
        return run(config, resume=bool(args.resume))
    finally:
        distributed.teardown()


if __name__ == "__main__":
    sys.exit(main())
