"""Several processes, one run (``torchrun --nproc_per_node N train.py ...``): data parallel.

Every process holds the whole model and graph and runs the same code with the same seeds, so
its random draws (initialization, dropout, sampled paths, the epoch's shuffle and negatives) are
the same as every other's. What differs is which rows of each batch it trains on: the
sampler's batches are global batches of N × ``--batch-size`` rows, and process r takes the r-th
part of each (``shard``). After each backward the gradients are summed over the processes,
each weighted by its share of the batch's rows (``average``), so every process takes the same
optimizer step, and N processes with batch b train exactly the batches of one process with
batch N·b. The architecture step reduces its α gradients (and DARTS's second-order gradients)
the same way, so α is identical on every process. Full-ranking evaluation splits the users
(``RankingEvaluator``) and sums the metrics over the processes.

Decisions taken from a clock (checkpoint time, --time-limit, wall budgets) use process 0's
clock (``agree``), so every process takes the same branch. Process 0 alone writes files
(``runtime.files``) and TensorBoard (``summary_writer``); each write is a barrier, so a file is
complete for every process once a write returns.

Without a launcher (no RANK / WORLD_SIZE in the environment) nothing here sets up
torch.distributed, and every function is the identity or a no-op: one process runs as before.
"""
import os

import torch
import torch.distributed as dist

from recnas.runtime.errors import ConfigError


def launched():
    """Whether a launcher (torchrun) started this process as one of a group."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device_name="auto"):
    """Join the process group torchrun described in the environment: ``nccl`` with one GPU per
    process (LOCAL_RANK) when the device is CUDA, ``gloo`` on CPU. Returns the backend, or None
    when this process was not launched as part of a group."""
    if not launched() or dist.is_initialized():
        return None
    cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if cuda:
        local, gpus = int(os.environ.get("LOCAL_RANK", 0)), torch.cuda.device_count()
        if local >= gpus:
            raise ConfigError(f"process {local} on this machine needs GPU {local}, but torch "
                              f"sees {gpus}: launch at most {gpus} processes per machine "
                              "(--nproc_per_node), or run on the CPU (--device cpu)")
        torch.cuda.set_device(local)
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend)
    return backend


def teardown():
    if dist.is_initialized():
        dist.destroy_process_group()


def active():
    return dist.is_available() and dist.is_initialized()


def rank():
    return dist.get_rank() if active() else 0


def world_size():
    return dist.get_world_size() if active() else 1


def is_main():
    return rank() == 0


def shard():
    """(this process's rank, number of processes), for BPRSampler.batches."""
    return rank(), world_size()


def barrier():
    if active():
        dist.barrier()


def average(tensors, share):
    """Σ over processes of share · tensor, for each tensor, where ``share`` is this process's
    part of the batch's rows (its rows / the batch's rows over all processes): the batch-mean
    gradient or loss, the same on every process. One all-reduce for all tensors; one process
    gets its tensors back untouched."""
    if not active():
        return list(tensors)
    flat = torch.cat([t.reshape(-1) for t in tensors]) * share
    dist.all_reduce(flat)
    out, start = [], 0
    for t in tensors:
        out.append(flat[start:start + t.numel()].view_as(t))
        start += t.numel()
    return out


def average_gradients(parameters, loss, share):
    """Replace each parameter's gradient by the batch-mean gradient over all processes (see
    ``average``); returns the batch-mean loss. The forward pass is the same on every process,
    so the same parameters have gradients everywhere."""
    if not active():
        return loss.detach()
    with_grad = [p for p in parameters if p.grad is not None]
    *grads, mean_loss = average([p.grad for p in with_grad] + [loss.detach()], share)
    for p, g in zip(with_grad, grads):
        p.grad.copy_(g)
    return mean_loss


def sum_over_processes(values, device):
    """Floats summed over all processes (float64), e.g. per-user metric sums of a user split."""
    if not active():
        return list(values)
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


def agree(value):
    """Process 0's ``value`` (a float or bool) on every process: decisions taken from a clock
    must be the same everywhere, or the processes would part ways."""
    if not active():
        return value
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    box = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.broadcast(box, 0)
    return type(value)(box.item())


def broadcast(obj):
    """Process 0's ``obj`` (any picklable object) on every process: what process 0 alone decides
    (e.g. the next trial a tuner proposes) handed to the others."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0, device="cuda" if dist.get_backend() == "nccl" else None)
    return box[0]


def check_identical(tensor, what):
    """Raise when ``tensor`` differs on any process (bitwise): a cheap guard that e.g. α, from
    which every process derives the architecture, did not drift apart."""
    if not active():
        return
    copies = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(copies, tensor.contiguous())
    if not all(torch.equal(copies[0], c) for c in copies[1:]):
        raise RuntimeError(f"{what} differs between the processes")


class _NoWriter:
    """What processes other than 0 get for a SummaryWriter: every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def summary_writer(log_dir, **kwargs):
    """A TensorBoard SummaryWriter on process 0, a writer that does nothing on the others."""
    if not is_main():
        return _NoWriter()
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(str(log_dir), **kwargs)
