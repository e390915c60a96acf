"""recnas command line: `python train.py --help`."""
import argparse
import sys

from data.errors import DataError
from data.interactions import DataConfig
from data.readers import FORMATS
from supernet.config import RunConfig
from supernet.trainer import run


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="recnas: graph neural architecture search for "
                                            "recommendation")
    p.add_argument("--dataset", default="ml-100k",
                   help="bundled name (ml-100k, gowalla), a directory or an interactions file")
    p.add_argument("--test-file", help="a given test split for a single-file dataset")
    p.add_argument("--format", choices=FORMATS, help="input format (default: auto-detect)")
    p.add_argument("--min-rating", type=float,
                   help="keep rows with rating >= R (default: every row counts)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="per-user test share when no test split is given (default 0.2)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="per-user validation share of the training rows (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--out", help="run directory (default runs/<timestamp>)")
    p.add_argument("--topk", type=int, nargs="+", default=[20], help="cut-offs K (default 20)")
    p.add_argument("--epochs", type=int, default=0)
    p.add_argument("--dim", type=int, default=64, help="embedding width d")
    p.add_argument("--eval-chunk-size", type=int, default=1024,
                   help="users scored at once in full-ranking evaluation")
    return p.parse_args(argv)


def config_from_args(args):
    data = DataConfig(args.dataset, args.test_file, args.format, args.min_rating,
                      args.test_fraction, args.val_fraction, args.seed)
    return RunConfig(data=data, out=args.out, device=args.device, seed=args.seed,
                     epochs=args.epochs, dim=args.dim, topk=args.topk,
                     eval_chunk_size=args.eval_chunk_size)


def main(argv=None):
    try:
        run(config_from_args(parse_args(argv)))
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
