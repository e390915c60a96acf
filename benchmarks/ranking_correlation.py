"""How well the supernet ranks architectures: sample architectures of the search space (plus the
built-in genotypes and the cells the search derives by argmax and by perturbation), score each
(a) by the trained supernet with its inherited weights (one-hot α, validation Recall@20) and
(b) by standalone training with the retraining defaults (early stopping, validation Recall@20),
and report Kendall's τ and Spearman's ρ between the two with 95 % bootstrap intervals; the
table also compares each label's τ and ρ with those of the label "default".

    python benchmarks/ranking_correlation.py                        # the defaults, label "default"
    python benchmarks/ranking_correlation.py --label warmup-10 --search warmup_epochs=10

Each --label is one search (its settings: the defaults plus --search NAME=VALUE, as train.py's
flags with underscores). The standalone scores depend only on the architecture, data and seed,
so labels share them. Every finished job is saved at once to
benchmarks/results/ranking_correlation_<dataset>.json (a rerun skips it) and the table
ranking_correlation_<dataset>.md is rewritten with every label measured so far. No score here
uses the test split."""
import argparse
import json
import random
import time
from pathlib import Path


from common import RESULTS, command, machine, save_table
from recnas.evaluation.correlation import bootstrap_interval, kendall_tau, spearman_rho
from recnas.runtime import checkpoint
from recnas.app.config import RunConfig
from recnas.runtime.files import write_json
from recnas.app.jobs import run
from recnas.supernet.derive import derive
from recnas.supernet.discretize import discretize_by_perturbation
from recnas.models.genotype import BUILTINS, Genotype, builtin, sample
from recnas.supernet.oneshot import OneShot
from recnas.models.space import space_of


def architectures(space, dim, n, seed):
    """The built-ins of the space's shape and n distinct random genotypes, by short name."""
    chosen = {}
    for name in BUILTINS:
        genotype = builtin(name, dim, space.n_nodes)
        if genotype.nodes and all(op in space.computed_ops for node in genotype.nodes
                                  for _, op in node.inputs):
            chosen[genotype.short()] = genotype
    rng, wanted = random.Random(seed), len(chosen) + n
    while len(chosen) < wanted:
        genotype = sample(space, dim, rng)
        chosen.setdefault(genotype.short(), genotype)
    return chosen


def one_shot_scores(search_dir, genotypes):
    """Validation Recall@20 in the supernet of SEARCH_DIR of each genotype and of the cells the
    search derives (derive.py's: argmax of α, or for evolution and reinforce their own choice)
    and by perturbation, which are added to ``genotypes``; returns (scores, derived cell,
    perturbation cell)."""
    one_shot = OneShot.load(search_dir)
    space, dim = one_shot.space, one_shot.supernet.dim
    derived = derive(search_dir)        # argmax of α, or the evolution's / controller's choice
    derived.provenance = {}
    perturbed = discretize_by_perturbation(one_shot.mixture(), one_shot.score, space, dim)
    genotypes[derived.short()] = derived
    genotypes[perturbed.short()] = perturbed
    return ({name: one_shot.score_genotype(g) for name, g in genotypes.items()}, derived,
            perturbed)


def before_after(measured):
    """Lines comparing each label's (τ, ρ) in MEASURED with the label "default" (the search
    before any change), and which label ranks best."""
    if "default" not in measured:
        return []
    tau0, rho0 = measured["default"]
    lines = [f"**Before and after**: Kendall τ / Spearman ρ of each change, against the defaults' "
             f"{tau0:.3f} / {rho0:.3f} (the search before any change):", ""]
    lines += [f"- {label}: {tau:.3f} ({tau - tau0:+.3f}) / {rho:.3f} ({rho - rho0:+.3f})"
              for label, (tau, rho) in measured.items() if label != "default"]
    best = max(measured, key=lambda label: measured[label][0])
    lines += ["", "No change ranks better than the defaults, so the defaults stay: after = before."
              if best == "default" else f"The best ranking: {best}, τ {measured[best][0]:.3f}.", ""]
    return lines


def table(args, stem, done):
    rows, details, measured = [], [], {}
    for label, search in done["searches"].items():
        names = [n for n in search["one_shot"] if n in done["standalone"]]
        one_shot = [search["one_shot"][n] for n in names]
        alone = [done["standalone"][n]["val"] for n in names]
        if len(names) < 3:
            continue
        tau, rho = kendall_tau(one_shot, alone), spearman_rho(one_shot, alone)
        measured[label] = tau, rho
        t_low, t_high = bootstrap_interval(kendall_tau, one_shot, alone, seed=args.seed)
        r_low, r_high = bootstrap_interval(spearman_rho, one_shot, alone, seed=args.seed)
        best_alone = max(names, key=lambda n: done["standalone"][n]["val"])
        def alone_val(name):
            return (f"{name} ({done['standalone'][name]['val']:.4f})"
                    if name in done["standalone"] else name or "")

        rows.append((label, json.dumps(search["settings"]), len(names),
                     f"{tau:.3f} [{t_low:.2f}, {t_high:.2f}]",
                     f"{rho:.3f} [{r_low:.2f}, {r_high:.2f}]", alone_val(search["derived"]),
                     alone_val(search.get("derived_perturbation")), alone_val(best_alone),
                     f"{search['seconds']:.0f}"))
        ranked = sorted(names, key=lambda n: -done["standalone"][n]["val"])
        details += [f"**{label}**: one-shot / standalone validation Recall@20 per architecture "
                    "(by standalone score):", ""]
        details += [f"- {n}: {search['one_shot'][n]:.4f} / {done['standalone'][n]['val']:.4f}"
                    for n in ranked] + [""]
    save_table(stem, f"Supernet ranking vs standalone ranking on {args.dataset} (validation "
                     "Recall@20)",
               ("label", "search settings (beyond the defaults)", "architectures",
                "Kendall τ [95 % CI]", "Spearman ρ [95 % CI]",
                "derived (standalone val)", "perturbation-derived (standalone val)",
                "best standalone (val)", "search s"), rows,
               [f"Seed {args.seed}; {args.architectures} random architectures of the default "
                "space plus the built-ins of its shape and each search's derived cells (derive.py: "
                "argmax of α, or the evolution's fittest / the controller's most likely cell; "
                "perturbation: DARTS-PT's rule without fine-tuning); standalone "
                "= train.py --genotype with the retraining defaults (early stopping on "
                "validation). Intervals: percentile bootstrap over architectures, 2000 "
                "resamples.", ""] + before_after(measured) + details,
               produced_by="`python benchmarks/ranking_correlation.py --label LABEL --search "
                           "NAME=VALUE ...` once per row (its settings column); the jobs stored in "
                           f"results/{stem}.json are kept, so the table merges every invocation's; "
                           f"the latest: `{command()}`")


def parse_settings(items):
    """NAME=VALUE strings -> {NAME: VALUE as JSON (numbers, true/false), else the string}."""
    settings = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            settings[name] = json.loads(value)
        except json.JSONDecodeError:
            settings[name] = value
    return settings


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--architectures", type=int, default=20, help="random architectures")
    p.add_argument("--label", default="default", help="name of this search's settings")
    p.add_argument("--search", nargs="*", default=[], metavar="NAME=VALUE",
                   help="search settings beyond the defaults, e.g. warmup_epochs=10")
    p.add_argument("--standalone", nargs="*", default=[], metavar="NAME=VALUE",
                   help="retraining settings beyond the defaults (the same for every label)")
    p.add_argument("--work", default="runs/ranking", help="where the run directories go")
    args = p.parse_args()
    stem = f"ranking_correlation_{args.dataset.replace('-', '')}"
    store, work = RESULTS / f"{stem}.json", Path(args.work)
    done = json.loads(store.read_text()) if store.exists() else {"searches": {}, "standalone": {}}

    def save():
        done["machine"] = machine()
        write_json(store, done)
        table(args, stem, done)

    settings, standalone = parse_settings(args.search), parse_settings(args.standalone)
    if done.setdefault("standalone_settings", standalone) != standalone:
        raise SystemExit(f"{store} holds standalone scores with {done['standalone_settings']}; "
                         "move it away to measure with other retraining settings")
    common = dict(dataset=args.dataset, seed=args.seed, device="cpu")
    if args.label not in done["searches"]:
        search_dir = work / f"search-{args.label}"
        start = time.perf_counter()
        config = RunConfig.from_flat("search", out=str(search_dir), **common, **settings)
        run(config, resume=(search_dir / checkpoint.CHECKPOINT).exists())
        seconds = time.perf_counter() - start
        space = space_of(config)
        genotypes = architectures(space, config.train.dim, args.architectures, args.seed)
        scores, derived, perturbed = one_shot_scores(search_dir, genotypes)
        done["searches"][args.label] = {"settings": settings, "one_shot": scores,
                                        "derived": derived.short(),
                                        "derived_perturbation": perturbed.short(),
                                        "seconds": seconds,
                                        "genotypes": {n: g.to_dict() for n, g in
                                                      genotypes.items()}}
        save()
    search = done["searches"][args.label]
    if "derived_perturbation" not in search:    # measured before the perturbation rule existed
        genotypes = {n: Genotype.from_dict(g) for n, g in search["genotypes"].items()}
        scores, _, perturbed = one_shot_scores(work / f"search-{args.label}", genotypes)
        search.update(one_shot=scores, derived_perturbation=perturbed.short(),
                      genotypes={n: g.to_dict() for n, g in genotypes.items()})
        save()
    for name, genotype_dict in search["genotypes"].items():
        if name in done["standalone"]:
            continue
        path = work / "genotypes" / f"{len(done['standalone']):03d}.json"
        Genotype.from_dict(genotype_dict).save(path)
        out = work / f"standalone-{path.stem}"
        start = time.perf_counter()
        config = RunConfig.from_flat("retrain", out=str(out), genotype=str(path), **common,
                                     **standalone)
        results = run(config, resume=(out / checkpoint.CHECKPOINT).exists())
        done["standalone"][name] = {"val": results["val"][f"recall@{config.topk[0]}"],
                                    "epoch": results["epoch"],
                                    "seconds": time.perf_counter() - start}
        save()
    save()


if __name__ == "__main__":
    main()
