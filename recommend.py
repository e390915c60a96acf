"""Top-K items for every user from a retrained model: `python recommend.py RUN_DIR`."""
import sys

from recnas.evaluation.serving import recommend
from recnas.runtime.cli import ArgumentParser
from recnas.runtime.errors import exit_status
from recnas.app.jobs import resolve_device
from recnas.runtime.progress import setup_logging


def build_parser():
    p = ArgumentParser(description="Write each user's top-K items, in the ids of the input "
                                   "files, from a retraining run's model.pt")
    p.add_argument("run_dir", help="a retraining run directory (train.py --genotype ...)")
    p.add_argument("--out", help="output file (default: RUN_DIR/recommendations.tsv or .json)")
    p.add_argument("--users", help="only these users: a file with one raw user id per line "
                                   "(default: every user)")
    p.add_argument("--k", type=int, default=20, help="items per user (default: %(default)s)")
    p.add_argument("--include-seen", action="store_true",
                   help="keep items the user interacted with in training and validation")
    p.add_argument("--format", choices=("tsv", "json"), default="tsv",
                   help="output format (default: %(default)s)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                   help="where to score; auto: CUDA when available (default: %(default)s)")
    p.add_argument("--chunk-size", type=int, default=1024,
                   help="users scored at once (default: %(default)s)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    return exit_status(lambda: recommend(args.run_dir, args.out, args.users, args.k,
                                         args.include_seen, args.format,
                                         resolve_device(args.device), args.chunk_size))


if __name__ == "__main__":
    sys.exit(main())
