"""The supernet search: bilevel optimization of weights (train batches) and α (validation
batches), with per-epoch evaluation, TensorBoard and a checkpoint after every epoch."""
import random
import time
from functools import partial

import torch

from recnas.data.sampler import BPRSampler
from recnas.evaluation.metrics import RankingEvaluator, score_test
from recnas.ops import make_op
from recnas.runtime import checkpoint, distributed
from recnas.runtime.errors import ConfigError
from recnas.supernet.settings import STRATEGIES
from recnas.runtime.progress import BatchProgress, format_seconds, log
from recnas.training.fit import check_finite
from recnas.models.losses import Loss
from recnas.supernet.architect import Architect
from recnas.supernet.derive import discretize
from recnas.models.space import space_of
from recnas.supernet.controller import Controller
from recnas.supernet.evolution import Evolution, evolve
from recnas.models.genotype import sample
from recnas.supernet.model import OP_WEIGHTS, ArchWeights, Supernet
from recnas.supernet.oneshot import OneShot
from recnas.supernet.tensorboard import SearchLogger


def gumbel_tau(search_config, epoch):
    """GDAS's temperature: linear from tau_max (first epoch) to tau_min over ``tau_epochs``
    epochs, then tau_min. It does not depend on ``epochs``, so a run extended with --resume
    --epochs anneals as a straight run of the same config."""
    s = search_config
    if s.tau_epochs <= 1:
        return s.tau_min
    return max(s.tau_min, s.tau_max - (s.tau_max - s.tau_min) * epoch / (s.tau_epochs - 1))


def _batch_loss(model, graph, loss_fn, weights, batch):
    """The loss of ``batch`` under the mixing weights ``weights()`` gives for this step."""
    representations = model(graph, weights())
    return loss_fn.on(representations, model.embedding, batch, model.n_users)[0]


def check(config, data):
    """Refuse a search that cannot work, before anything is written."""
    Loss.of(config.train, search=True)
    for name in space_of(config).computed_ops:     # e.g. a width the GAT heads do not divide
        make_op(name, config.train.dim, config.train)
    if config.search.order == 2 and config.search.strategy != "darts":
        raise ConfigError("--order 2 needs --strategy darts (sampled architectures have no "
                          "unrolled gradient)")
    if config.search.then_retrain and config.search.then_select:
        raise ConfigError("choose one of --then-retrain and --then-select")
    sel = config.select
    if config.search.then_select and (sel.search_seeds < 1 or sel.finalists < 1
                                      or sel.settings_samples < 0 or sel.eta < 2
                                      or min(sel.first_epochs, sel.cells_first_epochs,
                                             sel.max_epochs) < 1):
        raise ConfigError("--then-select needs --search-seeds >= 1, --finalists >= 1, "
                          "--settings-samples >= 0, --eta >= 2 and --first-epochs, "
                          "--cells-first-epochs, --max-epochs >= 1 (got "
                          f"{sel.search_seeds}, {sel.finalists}, {sel.settings_samples}, "
                          f"{sel.eta}, {sel.first_epochs}, {sel.cells_first_epochs}, "
                          f"{sel.max_epochs})")
    if config.search.then_select and (sel.selection_ratio < 0 or (
            sel.selection_seconds is not None and sel.selection_seconds <= 0)):
        raise ConfigError("--then-select needs --selection-seconds > 0 and --selection-ratio "
                          f">= 0 (got {sel.selection_seconds}, {sel.selection_ratio})")
    if config.search.op_weights not in OP_WEIGHTS:              # e.g. from a config.json
        raise ConfigError(f"op_weights must be one of {', '.join(OP_WEIGHTS)}, not "
                          f"{config.search.op_weights!r}")
    if config.search.strategy not in STRATEGIES:
        raise ConfigError(f"unknown search strategy {config.search.strategy!r}")
    s = config.search
    if s.strategy == "reinforce" and (s.controller_steps < 1 or not s.controller_lr > 0
                                      or not 0 <= s.baseline_decay < 1):
        raise ConfigError("reinforce needs --controller-steps >= 1, --controller-lr > 0 and "
                          f"0 <= --baseline-decay < 1 (got {s.controller_steps}, "
                          f"{s.controller_lr}, {s.baseline_decay})")
    if s.strategy == "evolution" and (s.population < 2 or not 2 <= s.tournament <= s.population
                                      or s.cycles < 0):
        raise ConfigError("evolution needs --population >= 2, 2 <= --tournament <= "
                          f"--population and --cycles >= 0 (got {s.population}, "
                          f"{s.tournament}, {s.cycles})")
    if not len(data.val):
        raise ConfigError("the validation split is empty (--val-fraction 0, or every user has "
                          "fewer than 5 training interactions): a search learns α on it, a "
                          "random search picks by it")


def search(config, data, graph, run_dir, device):
    """Search as ``config.search`` says, continuing RUN_DIR's checkpoint when there is one;
    returns the results (validation and test of the final supernet, its α, the derived
    genotype, the per-epoch history)."""
    s, train = config.search, config.train
    space = space_of(config)
    torch.manual_seed(config.seed)
    model = Supernet(data.n_users, data.n_items, train.dim, space, train,
                     s.op_weights).to(device)
    weight_optimizer = torch.optim.Adam(model.weight_parameters(), lr=train.lr, fused=True)
    architect = Architect(model, None, s.arch_lr, (0.5, 0.999), s.arch_weight_decay, s.order,
                          s.unrolled_lr or train.lr)
    samplers = (BPRSampler(data.train, data.n_users, data.n_items, seed=[config.seed, 1]),
                BPRSampler(data.val, data.n_users, data.n_items, seed=[config.seed, 2],
                           exclude=data.train))
    evaluator = RankingEvaluator(data.val, [data.train], data.n_users, data.n_items, config.topk,
                                 config.eval_chunk_size, device)
    controller = Controller(space, s.controller_lr, s.entropy_weight, s.baseline_decay) \
        if s.strategy == "reinforce" else None
    one_shot = OneShot(model, graph, evaluator, data.n_users, config.topk[0])
    evaluate = _evaluation(model, graph, data, config, device, evaluator, controller)
    dataset = data.record()
    start_epoch, history, evolution = 0, [], None
    state = checkpoint.load(run_dir, "search", device, dataset["fingerprint"],
                            resuming=True)
    if state is not None:
        model.load_state_dict(state["model"])
        weight_optimizer.load_state_dict(state["weight_optimizer"])
        architect.optimizer.load_state_dict(state["arch_optimizer"])
        checkpoint.restore_rng(state["rng"], samplers)
        start_epoch, history = state["epoch"], state["history"]
        log.info(f"resumed from {run_dir / checkpoint.CHECKPOINT} after epoch {start_epoch}")
        if controller is not None:
            controller.load(state["controller"])
        if state.get("evolution") is not None and start_epoch == s.epochs:
            evolution = Evolution.from_state_dict(state["evolution"])
    logger = SearchLogger(run_dir / "tensorboard", space, purge_step=start_epoch)

    def save(epochs_done, evolved=None):
        checkpoint.save(run_dir, "search", epoch=epochs_done, model=model.state_dict(),
                        weight_optimizer=weight_optimizer.state_dict(),
                        arch_optimizer=architect.optimizer.state_dict(),
                        rng=checkpoint.rng_state(samplers), config=config.to_dict(),
                        history=history, dataset=dataset,
                        evolution=None if evolved is None else evolved.state_dict(),
                        controller=None if controller is None else controller.state())

    log.info(f"searching with the {Loss.of(config.train, search=True).name} loss")
    started = time.perf_counter()
    for epoch in range(start_epoch, s.epochs):
        epoch_started = time.perf_counter()
        record = _train_epoch(model, graph, config, epoch, weight_optimizer, architect,
                              samplers, device, run_dir, controller)
        if controller is not None and epoch >= s.warmup_epochs:
            record.update(_train_controller(controller, one_shot, config, logger, epoch))
        _, val_loss, metrics = evaluate()
        genotype = reference_path(config) if s.strategy == "evolution" else \
            controller.genotype(controller.mode(), train.dim) if controller is not None else \
            discretize(model.alphas(), space, train.dim)
        record.update(val_loss=val_loss, genotype=genotype.short(),
                      **{f"val_{name}": value for name, value in metrics.items() if "@" in name},
                      seconds=(history[-1].get("seconds", 0.0) if history else 0.0)
                      + time.perf_counter() - epoch_started)     # the search's, over resumes
        history.append(record)
        _report(record, config, started, epoch - start_epoch + 1, logger, model, genotype)
        save(epoch + 1)
    if s.strategy == "evolution":
        evolution = _evolve(one_shot, config, evolution, logger,
                            lambda evolved: save(s.epochs, evolved))
    return _finish(model, evaluate, data, config, device, logger, history, evolution,
                   controller)


def _evaluation(model, graph, data, config, device, evaluator, controller=None):
    """A function giving the supernet's representations, validation loss (the training loss
    without L2, on one fixed draw of validation batches, so it compares across epochs) and
    validation ranking metrics: under its α (DARTS: the mixture; GDAS: the argmax); for
    evolution, whose α never trains, on one fixed random path (``reference_path``); for
    reinforce, on the controller's most likely path; or under the mixing ``weights`` given."""
    loss_fn = Loss.of(config.train, search=True)
    val_batch = next(BPRSampler(data.val, data.n_users, data.n_items, seed=[config.seed, 3],
                                exclude=data.train).batches(len(data.val), device,
                                                            loss_fn.shared_negatives))
    strategy = "darts" if config.search.strategy == "darts" else "argmax"
    space = model.space

    def evaluate(weights=None):
        if weights is None and config.search.strategy == "evolution":
            weights = ArchWeights.of_genotype(reference_path(config), space, model.embedding)
        if weights is None and controller is not None:
            weights = ArchWeights.of_genotype(controller.genotype(controller.mode(), model.dim),
                                              space, model.embedding)
        model.eval()
        with torch.no_grad():
            reps = model(graph, model.arch_weights(strategy) if weights is None else weights)
            _, val_loss = loss_fn.on(reps, model.embedding, val_batch, data.n_users)
            metrics = evaluator(reps[:data.n_users], reps[data.n_users:])
        return reps, val_loss.item(), metrics
    return evaluate


def _train_epoch(model, graph, config, epoch, weight_optimizer, architect, samplers, device,
                 run_dir, controller=None):
    """One epoch: per training batch an α step on a validation batch (after the warm-up), then
    a weight step (for reinforce, on a path the controller samples). Losses are summed on the
    device and checked once, at the end."""
    s = config.search
    train_sampler, val_sampler = samplers
    tau = gumbel_tau(s, epoch)
    loss = Loss.of(config.train, search=True)
    search_alpha = epoch >= s.warmup_epochs and s.strategy in ("darts", "gdas")
    strategy = "path" if s.strategy == "evolution" or (s.warmup_paths and not search_alpha) \
        else s.strategy
    if controller is not None:
        def weights():
            with torch.no_grad():
                choices = controller.sample()[0]
            return ArchWeights.of_genotype(controller.genotype(choices, model.dim), model.space,
                                           model.embedding.detach())
    else:
        def weights():
            return model.arch_weights(strategy, tau)
    loss_fn = partial(_batch_loss, model, graph, loss, weights)
    architect.loss_fn = loss_fn
    model.train()
    steps, batch_size, shard = 0, config.train.batch_size, distributed.shard()
    val_batches = _cycle(val_sampler, batch_size, device, loss.shared_negatives, shard)
    train_total = torch.zeros((), device=device)
    arch_total = torch.zeros((), device=device)
    bar = BatchProgress(f"epoch {epoch + 1}", -(-len(train_sampler) // (batch_size * shard[1])))
    started = time.perf_counter()
    for steps, batch in enumerate(train_sampler.batches(batch_size, device,
                                                        loss.shared_negatives, shard), 1):
        if search_alpha:
            arch_total += architect.step(batch, next(val_batches))
        weight_optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(batch)
        loss.backward()
        train_total += distributed.average_gradients(model.weight_parameters(), loss,
                                                     len(batch.users) / batch.rows)
        weight_optimizer.step()
        bar.step()
    check_finite(arch_total.item(), "validation", epoch + 1, run_dir)
    check_finite(train_total.item(), "training", epoch + 1, run_dir)
    return {"epoch": epoch + 1, "train_loss": train_total.item() / max(steps, 1),
            "alpha_steps": steps if search_alpha else 0,
            "train_seconds": time.perf_counter() - started,
            "tau": tau if s.strategy == "gdas" else None}


def _report(record, config, started, epochs_done, logger, model, genotype):
    k, epoch = config.topk[0], record["epoch"]
    elapsed = time.perf_counter() - started
    eta = elapsed / epochs_done * (config.search.epochs - epoch)
    if record["alpha_steps"]:
        phase = "search"
    elif "controller_reward" in record:
        phase = (f"controller reward {record['controller_reward']:.4f} "
                 f"entropy {record['controller_entropy']:.2f}")
    else:
        phase = "paths" if config.search.strategy == "evolution" else "warm-up"
    log.info(f"epoch {epoch}/{config.search.epochs}  train {record['train_loss']:.4f}  "
             f"val {record['val_loss']:.4f}  recall@{k} {record[f'val_recall@{k}']:.4f}  "
             f"ndcg@{k} {record[f'val_ndcg@{k}']:.4f}  {phase}  | {genotype.short()} | "
             f"{format_seconds(elapsed)} elapsed, ETA {format_seconds(eta)}")
    logger.log_epoch(epoch - 1, model, {"loss/train": record["train_loss"],
                                        "loss/val": record["val_loss"],
                                        f"val/recall@{k}": record[f"val_recall@{k}"],
                                        f"val/ndcg@{k}": record[f"val_ndcg@{k}"]}, genotype)


def _finish(model, evaluate, data, config, device, logger, history, evolution=None,
            controller=None):
    """Validation and test (scored once, here) of the final supernet: under its α; after an
    evolution, on the fittest genotype's path; for reinforce, on the controller's most likely
    path."""
    for alpha in model.arch_parameters():      # several processes: each derives from its α
        distributed.check_identical(alpha.detach(), "α")
    if controller is not None:
        genotype = controller.genotype(controller.mode(), config.train.dim)
        reps, val_loss, val_metrics = evaluate()
    elif evolution is None:
        genotype = discretize(model.alphas(), model.space, config.train.dim)
        reps, val_loss, val_metrics = evaluate()
    else:
        genotype = evolution.best()[0]
        reps, val_loss, val_metrics = evaluate(
            ArchWeights.of_genotype(genotype, model.space, model.embedding))
    test_metrics = score_test(reps, data, config, device)
    k, s = config.topk[0], config.search
    logger.log_final({"strategy": s.strategy, "order": s.order, "epochs": s.epochs,
                      "lr": config.train.lr, "arch_lr": s.arch_lr, "dim": config.train.dim,
                      "seed": config.seed},
                     {f"val_recall@{k}": val_metrics[f"recall@{k}"],
                      f"val_ndcg@{k}": val_metrics[f"ndcg@{k}"]})
    log.info("derived architecture:\n" + genotype.describe())
    return {"mode": "search", "val": val_metrics, "test": test_metrics, "val_loss": val_loss,
            "genotype": genotype.to_dict(), "history": history,
            "alpha": model.alphas().softmax().to_record(model.space),
            "evolution": None if evolution is None else _evolution_record(evolution)}



def _train_controller(controller, one_shot, config, logger, epoch):
    """``controller_steps`` REINFORCE steps, each rewarded by the validation Recall@K of a
    sampled path with the supernet's current weights; returns the epoch's record entries."""
    dim, rewards = config.train.dim, []
    one_shot.supernet.eval()
    for _ in range(config.search.controller_steps):
        reward, _ = controller.step(lambda choices: one_shot.score_genotype(
            controller.genotype(choices, dim)))
        rewards.append(reward)
    entropy = controller.entropy()
    mean = sum(rewards) / len(rewards) if rewards else float("nan")
    for name, value in (("reward", mean), ("baseline", controller.baseline), ("entropy", entropy)):
        if value is not None:
            logger.writer.add_scalar(f"controller/{name}", value, epoch)
    return {"controller_reward": mean, "controller_entropy": entropy}


def reference_path(config):
    """The fixed random single-input genotype whose validation score shows how an evolution
    search's path training progresses (its α never trains, so there is no mixture to score)."""
    return sample(space_of(config), config.train.dim, random.Random(config.seed))


def _evolve(one_shot, config, evolution, logger, save):
    """Aging evolution over genotypes scored with the trained supernet's weights; a checkpoint
    every 10 cycles and at the end (``save(evolution)``)."""
    s, k = config.search, config.topk[0]
    one_shot.supernet.eval()
    log.info(f"evolution: population {s.population}, tournament {s.tournament}, "
             f"{s.cycles} cycles, genotypes scored by the supernet's val recall@{k}")

    def after_cycle(state, child_fitness):
        fitness = [state.scored[name][0] for name in state.population]
        best = max(value for value, _ in state.scored.values())
        logger.writer.add_scalar("evolution/population_best", max(fitness), state.cycles)
        logger.writer.add_scalar("evolution/population_mean", sum(fitness) / len(fitness),
                                 state.cycles)
        logger.writer.add_scalar("evolution/best_ever", best, state.cycles)
        if child_fitness is not None:
            logger.writer.add_scalar("evolution/child", child_fitness, state.cycles)
        if state.cycles % 10 == 0 or state.cycles == s.cycles:
            log.info(f"evolution: cycle {state.cycles}/{s.cycles}  population best "
                     f"{max(fitness):.4f} mean {sum(fitness) / len(fitness):.4f}  best ever "
                     f"{best:.4f}  ({len(state.scored)} genotypes scored)")
            save(state)

    return evolve(one_shot.score_genotype, one_shot.space, config.train.dim, config.seed,
                  s.population, s.tournament, s.cycles, evolution, after_cycle)


def _evolution_record(evolution, n=10):
    ranked = sorted(evolution.scored.items(), key=lambda item: -item[1][0])[:n]
    return {"cycles": evolution.cycles, "scored": len(evolution.scored),
            "best": [{"genotype": name, "val_recall": value} for name, (value, _) in ranked]}


def _cycle(sampler, batch_size, device, shared_negatives, shard):
    """Validation batches without end: a new sampler epoch whenever one runs out."""
    if not len(sampler):
        raise ConfigError("no validation triples to sample (every validation user has "
                          "interacted with every item)")
    while True:
        yield from sampler.batches(batch_size, device, shared_negatives, shard)
