"""A model's anatomy: the module tree with parameters, shapes, MACs and calls, and receptive fields."""
