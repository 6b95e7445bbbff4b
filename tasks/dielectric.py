"""Refractive index n of 1,056 DFPT-computed crystals (matminer ``dielectric_constant``)."""

from tasks.base import RandomSplit, Task
from tasks.loaders import cleaned, table

TASK = Task(
    name="dielectric-n",
    description="Refractive index n (from the electronic dielectric tensor, DFPT) of the matminer "
                "dielectric_constant set (Materials Project)",
    target="n",
    units="dimensionless",
    files=("raw/matminer_v0.4.0/dielectric_constant.csv.gz",),
    loader=cleaned(table("structure", "n", "cif", id_column="material_id")),
    citation="Petousis, I. et al. Sci. Data 4, 160134 (2017)",
    role=("pt_source", "ft_target"),
    split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
    notes="The source of matbench_dielectric (which adds more materials and removes entries with n < 1, "
          "E_hull > 150 meV or noble gases); none here has n < 1. Compare trends with Matbench, not decimals.",
)
