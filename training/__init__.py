"""Standalone training of a fixed architecture: the network of a genotype (net.py), the losses
(losses.py, also used by the search), the training loop with early stopping (fit.py), retraining
a genotype (retrain.py), the random-search baseline (random_search.py) and the selection stage
(selection.py: successive halving over genotypes with their own training settings)."""
