"""The architecture (alpha) step of the bilevel optimization, first or second order (DARTS)."""
import torch

from recnas.runtime import distributed


class Architect:
    """Updates the architecture parameters on validation batches.

    ``loss_fn(batch)`` returns the loss of the model with its current parameters on ``batch``.
    order 1: the gradient of the validation loss w.r.t. alpha at the current weights w.
    order 2: DARTS's unrolled gradient: with w' = w - xi * grad_w L_train(w, alpha),
        grad_alpha L_val(w', alpha) - xi * [grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-, alpha)] / (2 eps)
    where w± = w ± eps * grad_w' L_val(w', alpha) and eps = 0.01 / ||grad_w' L_val||
    (a finite-difference Hessian-vector product). The weights are restored after each step.

    Under several processes each gradient is the batch mean over all of them
    (``distributed.average``), so every process takes the same α step.
    """

    def __init__(self, model, loss_fn, lr, betas, weight_decay, order, unrolled_lr):
        """The settings are the search's (supernet/strategies/darts.py, DartsOptions)."""
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {order}")
        self.model, self.loss_fn, self.order, self.unrolled_lr = model, loss_fn, order, unrolled_lr
        self.optimizer = torch.optim.Adam(model.arch_parameters(), lr=lr, betas=betas,
                                          weight_decay=weight_decay)

    def step(self, train_batch, val_batch):
        """One alpha update; returns the validation loss (at w for order 1, at w' for order 2)."""
        arch = self.model.arch_parameters()
        if self.order == 1:
            loss = self.loss_fn(val_batch)
            *grads, loss = _mean(_grad(loss, arch) + [loss.detach()], val_batch)
        else:
            loss, grads = self.hypergradient(train_batch, val_batch)
        self.optimizer.zero_grad(set_to_none=True)
        for p, g in zip(arch, grads):
            p.grad = g
        self.optimizer.step()
        return loss.detach()

    def hypergradient(self, train_batch, val_batch):
        """(validation loss at w', second-order gradient w.r.t. each architecture parameter)."""
        arch, weights = self.model.arch_parameters(), self.model.weight_parameters()
        xi = self.unrolled_lr
        original = [w.detach().clone() for w in weights]
        train_grads = _mean(_grad(self.loss_fn(train_batch), weights), train_batch)
        with torch.no_grad():                       # virtual step w' = w - xi * grad
            for w, g in zip(weights, train_grads):
                w.sub_(xi * g)
        val_loss = self.loss_fn(val_batch)
        *grads, val_loss = _mean(_grad(val_loss, arch + weights) + [val_loss.detach()],
                                 val_batch)
        arch_grads, v = grads[:len(arch)], grads[len(arch):]
        eps = 0.01 / torch.sqrt(sum((g * g).sum() for g in v)).clamp_min(1e-12)
        plus_minus = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, w0, g in zip(weights, original, v):
                    w.copy_(w0 + sign * eps * g)
            plus_minus.append(_mean(_grad(self.loss_fn(train_batch), arch), train_batch))
        with torch.no_grad():
            for w, w0 in zip(weights, original):
                w.copy_(w0)
        hessian_v = [(p - m) / (2 * eps) for p, m in zip(*plus_minus)]
        return val_loss, [g - xi * h for g, h in zip(arch_grads, hessian_v)]


def _grad(loss, params):
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _mean(tensors, batch):
    """The batch means over all processes of this process's ``tensors`` on its part of
    ``batch`` (a data.sampler.Batch); the tensors themselves in a single process."""
    if not distributed.active():
        return tensors
    return distributed.average(tensors, len(batch.users) / batch.rows)
