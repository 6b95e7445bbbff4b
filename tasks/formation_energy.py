"""Formation energy per atom of the FLLA 2015 set (matminer ``flla``; Materials Project)."""

from tasks.base import RandomSplit, Task
from tasks.loaders import cleaned, table

TASK = Task(
    name="flla-e-form",
    description="DFT formation energy per atom of 3,938 Materials Project crystals (FLLA set)",
    target="formation_energy_per_atom",
    units="eV/atom",
    files=("raw/matminer_v0.4.0/flla_2015.csv.gz",),
    loader=cleaned(table("structure", "formation_energy_per_atom", "pymatgen", id_column="material_id")),
    citation="Faber, F., Lindmaa, A., von Lilienfeld, O. A. & Armiento, R. Int. J. Quantum Chem. 115, "
             "1094-1101 (2015)",
    role=("pt_source", "ft_target"),
    split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
    pt_aliases=("fe",),
    notes="A small stand-in for matbench_mp_e_form (132,752 materials, not available offline): same property "
          "and units, different and much smaller material set.",
)
