"""What searches: the search space (space.py), discrete architectures and their files
(genotype.py), the one-shot supernet and its architecture weights (model.py), the α step of the
bilevel optimization (architect.py), the search loop (search.py), the argmax export (derive.py)
and the TensorBoard views of α (tensorboard.py)."""
