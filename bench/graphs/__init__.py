"""Crystal graphs and line graphs for ALIGNN-style models."""

from bench.graphs.build import GraphParams, build_graph
from bench.graphs.data import AlignnGraph

__all__ = ["AlignnGraph", "GraphParams", "build_graph"]
