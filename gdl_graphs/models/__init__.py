"""Stacks of layers (CNN-as-graph, GNNs, ...)."""
