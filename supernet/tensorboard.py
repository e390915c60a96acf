"""TensorBoard views of a search: alpha per edge and op, entropies, an alpha heat map per epoch."""
import numpy as np

from recnas.runtime.distributed import summary_writer

# A few stops of the viridis colour map; values in [0, 1] are interpolated between them.
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                    dtype=np.float64)


def heat_map(matrix, cell=16):
    """(rows, cols) values in [0, 1] -> (rows*cell, cols*cell, 3) uint8 image, row-normalized."""
    m = np.asarray(matrix, dtype=np.float64)
    m = m / np.maximum(m.max(axis=1, keepdims=True), 1e-12)
    position = m * (len(_VIRIDIS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_VIRIDIS) - 2)
    frac = (position - low)[..., None]
    colours = _VIRIDIS[low] * (1 - frac) + _VIRIDIS[low + 1] * frac
    return np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1).astype(np.uint8)


class SearchLogger:
    def __init__(self, log_dir, space, purge_step=None):
        self.writer = summary_writer(log_dir, purge_step=purge_step)
        self.space = space
        self.first_epoch = True

    def log_epoch(self, epoch, model, scalars, genotype):
        space = self.space
        for name, value in scalars.items():
            self.writer.add_scalar(name, value, epoch)
        weights = model.alphas().softmax().map(lambda w: w.detach().float().cpu())
        probs = weights.ops
        for e in range(len(space.edges)):
            edge = space.edge_name(e)
            for o, op in enumerate(space.ops):
                self.writer.add_scalar(f"alpha/{edge}/{op}", probs[e, o].item(), epoch)
            entropy = -(probs[e] * probs[e].clamp_min(1e-12).log()).sum().item()
            self.writer.add_scalar(f"entropy/{edge}", entropy, epoch)
        act = weights.activations
        for j in range(space.n_nodes):
            for a, name in enumerate(space.activations):
                self.writer.add_scalar(f"activation/node{j + 1}/{name}", act[j, a].item(), epoch)
        agg = weights.aggregation
        for g, name in enumerate(space.aggregations):
            self.writer.add_scalar(f"aggregation/{name}", agg[g].item(), epoch)
        self.writer.add_image("alpha/heat_map", heat_map(probs.numpy()), epoch, dataformats="HWC")
        if epoch == 0 or self.first_epoch:
            legend = ("rows (edges): " + ", ".join(space.edge_name(e) for e in range(len(space.edges)))
                      + "; columns (ops): " + ", ".join(space.ops)
                      + "; colour: softmax weight / row maximum (viridis)")
            self.writer.add_text("alpha/heat_map_legend", legend, epoch)
            self.first_epoch = False
        self.writer.add_text("architecture", "    " + genotype.describe().replace("\n", "\n    "),
                             epoch)
        self.writer.flush()

    def log_final(self, hparams, metrics):
        self.writer.add_hparams(hparams, {f"hparam/{k}": v for k, v in metrics.items()},
                                run_name=".")
        self.writer.close()
