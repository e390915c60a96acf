"""Weighted sums of same-shape tensors: the supernet's hot path (every edge, activation and
aggregation mixture is one)."""
import torch


class _WeightedSum(torch.autograd.Function):
    """Σ_k w[k] * ys[k] without materializing the products: forward is one in-place
    multiply-add per term, backward one dot product (for w) and one scaling (for each y) per
    term. Autograd's own ``w[k] * y`` costs three full passes and a fresh (N, d) allocation per
    term. The weights stay on the device (0-d tensors broadcast), so a GPU never waits for the
    host here."""

    @staticmethod
    def forward(ctx, w, *ys):
        ctx.save_for_backward(w, *ys)
        out = torch.mul(ys[0], w[0])
        for k in range(1, len(ys)):
            out.addcmul_(ys[k], w[k])
        return out

    @staticmethod
    def backward(ctx, grad):
        w, *ys = ctx.saved_tensors
        grad_w = None
        if ctx.needs_input_grad[0]:
            flat = grad.reshape(-1)
            grad_w = torch.stack([torch.dot(flat, y.reshape(-1)) for y in ys])
        grad_ys = [torch.mul(grad, w[k]) if needed else None
                   for k, needed in enumerate(ctx.needs_input_grad[1:])]
        return (grad_w, *grad_ys)


def mix(weights, tensors):
    """Σ_k weights[k] * tensors[k]; weights (k,) may require grad, tensors all of one shape."""
    return _WeightedSum.apply(weights, *tensors)
