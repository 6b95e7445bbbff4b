"""tl-bench: a benchmark suite for transfer learning of materials properties with graph neural networks.

Importing this package is cheap on purpose: heavy libraries (torch, PyG, MLflow, pymatgen) are imported by
the modules that need them, so `bench --help` starts instantly.
"""

__version__ = "0.1.0"
