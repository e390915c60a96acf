"""Standalone training of a fixed architecture: the network of a genotype (net.py), the losses
(losses.py, also used by the search), the training loop with early stopping (fit.py), retraining
a genotype (retrain.py) and the random-search baseline (random_search.py)."""
