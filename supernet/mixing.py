"""Weighted sums of same-shape tensors: the supernet's hot path (every edge, activation and
aggregation mixture is one)."""
import torch


class _WeightedSum(torch.autograd.Function):
    """Σ_k w[k] * ys[k] without materializing the products: forward is one in-place axpy per
    term, backward one dot product (for w) and one scaling (for each y) per term. Autograd's own
    ``w[k] * y`` costs three full passes and a fresh (N, d) allocation per term."""

    @staticmethod
    def forward(ctx, w, *ys):
        ctx.save_for_backward(w, *ys)
        coefficients = w.tolist()
        out = torch.mul(ys[0], coefficients[0])
        for c, y in zip(coefficients[1:], ys[1:]):
            out.add_(y, alpha=c)
        return out

    @staticmethod
    def backward(ctx, grad):
        w, *ys = ctx.saved_tensors
        grad_w = None
        if ctx.needs_input_grad[0]:
            flat = grad.reshape(-1)
            grad_w = torch.stack([torch.dot(flat, y.reshape(-1)) for y in ys])
        grad_ys = [torch.mul(grad, c) if needed else None
                   for c, needed in zip(w.tolist(), ctx.needs_input_grad[1:])]
        return (grad_w, *grad_ys)


def mix(weights, tensors):
    """Σ_k weights[k] * tensors[k]; weights (k,) may require grad, tensors all of one shape."""
    return _WeightedSum.apply(weights, *tensors)
