"""Crystal graphs and line graphs for ALIGNN-style models."""

__all__ = ["AlignnGraph", "GraphParams", "build_graph"]


def __getattr__(name):
    # Lazy: structure validation imports bench.graphs.neighbors (numpy + scipy only) and must not pull in
    # torch, which build and data need (seconds per process for a task card or `bench data add`).
    if name in ("GraphParams", "build_graph"):
        from bench.graphs import build

        return getattr(build, name)
    if name == "AlignnGraph":
        from bench.graphs.data import AlignnGraph

        return AlignnGraph
    raise AttributeError(f"module 'bench.graphs' has no attribute {name!r}")
