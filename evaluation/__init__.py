"""Scoring and serving: full-ranking metrics with LightGCN's definitions and the one test
scoring every mode uses (metrics.py), top-K lists in the user's own ids from a saved model
(serving.py). Both rank with the same ``Ranker``, so served lists are the scored lists.
correlation.py: rank agreement (Kendall τ, Spearman ρ) of two scorings of architectures."""
