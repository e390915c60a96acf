"""Standalone training of a fixed architecture: the training loop with early stopping (fit.py),
retraining a genotype (retrain.py) and the selection among trained candidates (selection.py:
Optuna trials, each a genotype with its own training settings)."""
