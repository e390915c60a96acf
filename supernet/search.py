"""The supernet search: bilevel optimization of weights (train batches) and α (validation
batches), with per-epoch evaluation, TensorBoard and a checkpoint after every epoch. What differs
between strategies (DARTS, GDAS, evolution, REINFORCE) is their object's
(supernet/strategies/); this loop is theirs in common."""
import time
from functools import partial

import torch

from recnas.data.sampler import BPRSampler
from recnas.evaluation.metrics import RankingEvaluator, score_test
from recnas.runtime import checkpoint, distributed
from recnas.runtime.errors import ConfigError
from recnas.runtime.progress import BatchProgress, format_seconds, log
from recnas.training.fit import check_finite
from recnas.models.losses import Loss
from recnas.models.space import space_of
from recnas.supernet.architect import Architect
from recnas.supernet.model import OP_WEIGHTS, Supernet
from recnas.supernet.oneshot import OneShot
from recnas.supernet.strategies import STRATEGIES, check_space
from recnas.supernet.tensorboard import SearchLogger


def _batch_loss(model, graph, loss_fn, weights, batch):
    """The loss of ``batch`` under the mixing weights ``weights()`` gives for this step."""
    representations = model(graph, weights())
    return loss_fn.on(representations, model.embedding, batch, model.n_users)[0]


def check(config, data):
    """Refuse a search that cannot work, before anything is written."""
    check_space(config, data)
    if config.search.strategy not in STRATEGIES or not STRATEGIES[config.search.strategy].one_shot:
        raise ConfigError(f"unknown search strategy {config.search.strategy!r}")
    STRATEGIES[config.search.strategy].check(config)
    if config.search.then_retrain and config.search.then_select:
        raise ConfigError("choose one of --then-retrain and --then-select")
    if config.search.op_weights not in OP_WEIGHTS:              # e.g. from a config.json
        raise ConfigError(f"op_weights must be one of {', '.join(OP_WEIGHTS)}, not "
                          f"{config.search.op_weights!r}")


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
    strategy = STRATEGIES[s.strategy](config, space, model)
    one_shot = OneShot(model, graph, evaluator, data.n_users, config.topk[0])
    evaluate = _evaluation(model, graph, data, config, device, evaluator, strategy)
    dataset = data.record()
    start_epoch, history = 0, []
    state = checkpoint.load(run_dir, "search", device, dataset["fingerprint"],
                            resuming=True)
    if state is not None:
        model.load_state_dict(state["model"])
        weight_optimizer.load_state_dict(state["weight_optimizer"])
        architect.optimizer.load_state_dict(state["arch_optimizer"])
        checkpoint.restore_rng(state["rng"], samplers)
        start_epoch, history = state["epoch"], state["history"]
        log.info(f"resumed from {run_dir / checkpoint.CHECKPOINT} after epoch {start_epoch}")
        strategy.load_state_dict(state, start_epoch)
    logger = SearchLogger(run_dir / "tensorboard", space, purge_step=start_epoch)

    def save(epochs_done):
        checkpoint.save(run_dir, "search", epoch=epochs_done, model=model.state_dict(),
                        weight_optimizer=weight_optimizer.state_dict(),
                        arch_optimizer=architect.optimizer.state_dict(),
                        rng=checkpoint.rng_state(samplers), config=config.to_dict(),
                        history=history, dataset=dataset, **strategy.state_dict())

    log.info(f"searching with the {Loss.of(config.train, search=True).name} loss")
    started = time.perf_counter()
    for epoch in range(start_epoch, s.epochs):
        epoch_started = time.perf_counter()
        record = _train_epoch(model, graph, config, epoch, weight_optimizer, architect,
                              samplers, device, run_dir, strategy)
        record.update(strategy.after_epoch(epoch, one_shot, logger))
        _, val_loss, metrics = evaluate()
        genotype = strategy.genotype()
        record.update(val_loss=val_loss, genotype=genotype.short(),
                      **{f"val_{name}": value for name, value in metrics.items() if "@" in name},
                      seconds=(history[-1].get("seconds", 0.0) if history else 0.0)
                      + time.perf_counter() - epoch_started)     # the search's, over resumes
        history.append(record)
        _report(record, config, started, epoch - start_epoch + 1, logger, model, genotype,
                strategy)
        save(epoch + 1)
    strategy.finish(one_shot, logger, lambda: save(s.epochs))
    return _finish(model, evaluate, data, config, device, logger, history, strategy)


def _evaluation(model, graph, data, config, device, evaluator, strategy):
    """A function giving the supernet's representations, validation loss (the training loss
    without L2, on one fixed draw of validation batches, so it compares across epochs) and
    validation ranking metrics: under the architecture the strategy stands for now (DARTS: the
    mixture; GDAS: the argmax; evolution: one fixed random path; reinforce: the controller's
    most likely path), or under the mixing ``weights`` given."""
    loss_fn = Loss.of(config.train, search=True)
    val_batch = next(BPRSampler(data.val, data.n_users, data.n_items, seed=[config.seed, 3],
                                exclude=data.train).batches(len(data.val), device,
                                                            loss_fn.shared_negatives))

    def evaluate(weights=None):
        model.eval()
        with torch.no_grad():
            reps = model(graph, strategy.eval_weights() if weights is None else weights)
            _, val_loss = loss_fn.on(reps, model.embedding, val_batch, data.n_users)
            metrics = evaluator(reps[:data.n_users], reps[data.n_users:])
        return reps, val_loss.item(), metrics
    return evaluate


def _train_epoch(model, graph, config, epoch, weight_optimizer, architect, samplers, device,
                 run_dir, strategy):
    """One epoch: per training batch an α step on a validation batch (when the strategy says
    so), then a weight step on the mixing weights the strategy gives. Losses are summed on the
    device and checked once, at the end."""
    train_sampler, val_sampler = samplers
    loss = Loss.of(config.train, search=True)
    search_alpha = strategy.alpha_steps(epoch)
    loss_fn = partial(_batch_loss, model, graph, loss, strategy.weights(epoch))
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
            "train_seconds": time.perf_counter() - started, **strategy.epoch_record(epoch)}


def _report(record, config, started, epochs_done, logger, model, genotype, strategy):
    k, epoch = config.topk[0], record["epoch"]
    elapsed = time.perf_counter() - started
    eta = elapsed / epochs_done * (config.search.epochs - epoch)
    phase = "search" if record["alpha_steps"] else strategy.phase(record)
    log.info(f"epoch {epoch}/{config.search.epochs}  train {record['train_loss']:.4f}  "
             f"val {record['val_loss']:.4f}  recall@{k} {record[f'val_recall@{k}']:.4f}  "
             f"ndcg@{k} {record[f'val_ndcg@{k}']:.4f}  {phase}  | {genotype.short()} | "
             f"{format_seconds(elapsed)} elapsed, ETA {format_seconds(eta)}")
    logger.log_epoch(epoch - 1, model, {"loss/train": record["train_loss"],
                                        "loss/val": record["val_loss"],
                                        f"val/recall@{k}": record[f"val_recall@{k}"],
                                        f"val/ndcg@{k}": record[f"val_ndcg@{k}"]}, genotype)


def _finish(model, evaluate, data, config, device, logger, history, strategy):
    """Validation and test (scored once, here) of the final supernet under the architecture
    the strategy ends with (DARTS / GDAS: α's; evolution: the fittest genotype's path;
    reinforce: the controller's most likely path)."""
    for alpha in model.arch_parameters():      # several processes: each derives from its α
        distributed.check_identical(alpha.detach(), "α")
    genotype, weights = strategy.final()
    reps, val_loss, val_metrics = evaluate(weights)
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
            "alpha": model.alphas().softmax().to_record(model.space), **strategy.results()}


def _cycle(sampler, batch_size, device, shared_negatives, shard):
    """Validation batches without end: a new sampler epoch whenever one runs out."""
    if not len(sampler):
        raise ConfigError("no validation triples to sample (every validation user has "
                          "interacted with every item)")
    while True:
        yield from sampler.batches(batch_size, device, shared_negatives, shard)
