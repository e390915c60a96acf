"""From files to tensors: readers (formats), interactions (contiguous ids, train / validation /
test splits), graph (the normalized adjacencies of the training graph) and sampler (positive
pairs with their negatives)."""
