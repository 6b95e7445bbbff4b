"""ALIGNN (Choudhary & DeCost, npj Comput. Mater. 7, 185 (2021)) in PyTorch Geometric."""

from backbones.alignn.model import ALIGNN

__all__ = ["ALIGNN"]
