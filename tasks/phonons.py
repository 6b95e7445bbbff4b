"""Frequency of the last (highest) phonon DOS peak of the Petretto 2018 DFPT set (automatminer copy)."""

from tasks.base import RandomSplit, Task
from tasks.loaders import cleaned, table

TASK = Task(
    name="phonons",
    description="Frequency of the highest-frequency peak of the phonon density of states (DFPT, ABINIT)",
    target="last phdos peak",
    units="cm⁻¹",
    files=("raw/automatminer/phonon_dielectric_mp.csv.gz",),
    loader=cleaned(table("structure", "last phdos peak", "pymatgen", id_column="mpid")),
    citation="Petretto, G. et al. Sci. Data 5, 180065 (2018)",
    role=("pt_source", "ft_target"),
    split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
    pt_aliases=("ph",),
    notes="The full 1,521-row DFPT set that matbench_phonons (1,265) was filtered from; Matbench also removed "
          "entries with E_hull > 150 meV or noble gases, which this copy cannot reproduce (no E_hull column). "
          "No ASR-breaking filter is applied (column asr_breaking is kept in the source only).",
)
