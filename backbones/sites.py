"""Per-site inputs shared by backbones: one row of a per-element table per site, occupancy-weighted on
disordered sites."""

from __future__ import annotations

from torch import Tensor


def site_rows(batch, table: Tensor) -> Tensor:
    r"""``table[Z]`` per site; a disordered site gets :math:`x_i = \sum_{s \in i} c_s\, \mathrm{table}[Z_s]`.

    ``table`` may be a parameter (SchNet's learned embedding): the weighted sum keeps its gradient.
    """
    site = getattr(batch, "species_site", None)
    if site is None or (site.numel() == batch.z.numel() and bool((batch.species_w == 1).all())):
        return table[batch.z]  # ordered: one species per site, weight 1
    weighted = table[batch.species_z] * batch.species_w.unsqueeze(1).to(table.dtype)
    return weighted.new_zeros(batch.z.numel(), weighted.size(1)).index_add_(0, batch.species_site, weighted)
