"""The supernet search: bilevel optimization of weights (train batches) and alpha (validation
batches), with per-epoch evaluation, TensorBoard and resumable checkpoints."""
import math
import time
from functools import partial

import torch

from data.sampler import BPRSampler
from . import checkpoint
from .architect import Architect
from .evaluate import RankingEvaluator
from .genotype import derive_from_model
from .loss import bpr_loss
from .model import Supernet
from .search_space import SearchSpace
from .tensorboard import SearchLogger


class TrainingDiverged(ValueError):
    pass


def format_seconds(s):
    s = int(round(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def gumbel_tau(config, epoch):
    """Linear annealing from tau_max (first epoch) to tau_min (last epoch)."""
    if config.epochs <= 1:
        return config.tau_min
    return config.tau_max - (config.tau_max - config.tau_min) * epoch / (config.epochs - 1)


def _batch_loss(model, graph, config, strategy, tau, batch):
    representations = model(graph, model.arch_weights(strategy, tau))
    loss, _ = bpr_loss(representations, model.embedding, *batch, model.n_users, config.l2)
    return loss


def _check_finite(mean_loss, what, epoch, run_dir):
    """Raise when an epoch's mean loss is NaN or infinite (checked once per epoch, so a GPU
    never waits for the host inside an epoch)."""
    if not math.isfinite(mean_loss):
        kept = (f"the checkpoint of epoch {epoch} in {run_dir} is intact; lower --lr or "
                f"--arch-lr and continue with --resume {run_dir}") if epoch else \
            "no checkpoint was written yet"
        raise TrainingDiverged(f"{what} loss became {mean_loss} in epoch {epoch + 1}: {kept}")


def search(config, data, graph, run_dir, device, log=print):
    space = SearchSpace(n_nodes=config.n_nodes, ops=tuple(config.ops))
    torch.manual_seed(config.seed)
    model = Supernet(data.n_users, data.n_items, config.dim, space, config.gat_heads,
                     config.gat_dropout).to(device)
    weight_optimizer = torch.optim.Adam(model.weight_parameters(), lr=config.lr, fused=True)
    architect = Architect(model, None, config.arch_lr, (0.5, 0.999), config.arch_weight_decay,
                          config.order, config.unrolled_lr or config.lr)
    if config.order == 2 and config.strategy != "darts":
        raise ValueError("--order 2 needs --strategy darts (sampled architectures have no "
                         "unrolled gradient)")
    train_sampler = BPRSampler(data.train, data.n_users, data.n_items, seed=[config.seed, 1])
    val_sampler = BPRSampler(data.val, data.n_users, data.n_items, seed=[config.seed, 2],
                             exclude=data.train)
    samplers = (train_sampler, val_sampler)
    # A fixed set of validation triples, so the reported validation loss compares across epochs.
    val_triples = [torch.from_numpy(t).to(device) for t in BPRSampler(
        data.val, data.n_users, data.n_items, seed=[config.seed, 3], exclude=data.train
    ).epoch_triples()]
    evaluator = RankingEvaluator(data.val, [data.train], data.n_users, data.n_items, config.topk,
                                 config.eval_chunk_size, device)
    eval_strategy = "darts" if config.strategy == "darts" else "argmax"

    dataset = {"name": data.name, "fingerprint": data.fingerprint(), **data.counts()}
    start_epoch, history = 0, []
    state = checkpoint.load(run_dir, device)
    if state is not None:
        model.load_state_dict(state["model"])
        weight_optimizer.load_state_dict(state["weight_optimizer"])
        architect.optimizer.load_state_dict(state["arch_optimizer"])
        checkpoint.restore_rng(state["rng"], samplers)
        start_epoch, history = state["epoch"], state["history"]
        log(f"resumed from {run_dir / checkpoint.CHECKPOINT} after epoch {start_epoch}")
    logger = SearchLogger(run_dir / "tensorboard", space, purge_step=start_epoch)

    def evaluate():
        model.eval()
        with torch.no_grad():
            reps = model(graph, model.arch_weights(eval_strategy))
            _, val_bpr = bpr_loss(reps, model.embedding, *val_triples, data.n_users, config.l2)
            metrics = evaluator(reps[:data.n_users], reps[data.n_users:])
        return reps, val_bpr.item(), metrics

    k = config.topk[0]
    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        tau = gumbel_tau(config, epoch)
        loss_fn = partial(_batch_loss, model, graph, config, config.strategy, tau)
        architect.loss_fn = loss_fn
        search_alpha = epoch >= config.warmup_epochs
        model.train()
        val_batches = _cycle(val_sampler, config.batch_size, device)
        train_total = torch.zeros((), device=device)
        arch_total = torch.zeros((), device=device)
        steps = 0
        for steps, batch in enumerate(train_sampler.batches(config.batch_size, device), 1):
            if search_alpha:
                arch_total += architect.step(batch, next(val_batches))
            weight_optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(batch)
            loss.backward()
            weight_optimizer.step()
            train_total += loss.detach()
        _check_finite(arch_total.item(), "validation", epoch, run_dir)
        _check_finite(train_total.item(), "training", epoch, run_dir)
        _, val_loss, metrics = evaluate()
        genotype = derive_from_model(model)
        record = {"epoch": epoch + 1, "train_loss": train_total.item() / max(steps, 1),
                  "val_loss": val_loss, "alpha_steps": steps if search_alpha else 0,
                  "tau": tau if config.strategy == "gdas" else None,
                  **{f"val_{name}": value for name, value in metrics.items() if "@" in name},
                  "genotype": genotype.short()}
        history.append(record)
        elapsed = time.perf_counter() - started
        done = epoch + 1 - start_epoch
        eta = elapsed / done * (config.epochs - epoch - 1)
        log(f"epoch {epoch + 1}/{config.epochs}  train {record['train_loss']:.4f}  "
            f"val {val_loss:.4f}  recall@{k} {metrics[f'recall@{k}']:.4f}  "
            f"ndcg@{k} {metrics[f'ndcg@{k}']:.4f}  {'search' if search_alpha else 'warm-up'}  "
            f"| {genotype.short()} | {format_seconds(elapsed)} elapsed, ETA {format_seconds(eta)}")
        logger.log_epoch(epoch, model, {"loss/train": record["train_loss"], "loss/val": val_loss,
                                        f"val/recall@{k}": metrics[f"recall@{k}"],
                                        f"val/ndcg@{k}": metrics[f"ndcg@{k}"]}, genotype)
        checkpoint.save(run_dir, epoch=epoch + 1, model=model.state_dict(),
                        weight_optimizer=weight_optimizer.state_dict(),
                        arch_optimizer=architect.optimizer.state_dict(),
                        rng=checkpoint.rng_state(samplers), config=config.to_dict(),
                        history=history, dataset=dataset)

    reps, val_loss, val_metrics = evaluate()
    genotype = derive_from_model(model)
    with torch.no_grad():
        test_metrics = RankingEvaluator(data.test, [data.train, data.val], data.n_users,
                                        data.n_items, config.topk, config.eval_chunk_size,
                                        device)(reps[:data.n_users], reps[data.n_users:])
    logger.log_final({"strategy": config.strategy, "order": config.order, "epochs": config.epochs,
                      "lr": config.lr, "arch_lr": config.arch_lr, "dim": config.dim,
                      "seed": config.seed},
                     {f"val_recall@{k}": val_metrics[f"recall@{k}"],
                      f"val_ndcg@{k}": val_metrics[f"ndcg@{k}"]})
    log("derived architecture:\n" + genotype.describe())
    return {"mode": "search", "val": val_metrics, "test": test_metrics,
            "val_loss": val_loss, "genotype": genotype.to_dict(), "history": history,
            "alpha": {"ops": torch.softmax(model.alpha_ops.detach().cpu(), -1).tolist(),
                      "activations": torch.softmax(model.alpha_activations.detach().cpu(),
                                                   -1).tolist(),
                      "aggregation": torch.softmax(model.alpha_aggregation.detach().cpu(),
                                                   -1).tolist()}}


def _cycle(sampler, batch_size, device):
    """Validation batches without end: a new sampler epoch whenever one runs out."""
    while True:
        yield from sampler.batches(batch_size, device)
