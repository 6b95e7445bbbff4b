"""Maximum piezoelectric modulus of 941 DFPT-computed crystals (matminer ``piezoelectric_tensor``)."""

from tasks.base import RandomSplit, Task
from tasks.loaders import matminer_csv

TASK = Task(
    name="piezo",
    description="Maximum longitudinal piezoelectric modulus eij_max of 941 crystals (DFPT, Materials Project)",
    target="eij_max",
    units="C/m²",
    files=("raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz",),
    loader=matminer_csv(structure_column="structure", fmt="cif", id_column="material_id"),
    citation="de Jong, M. et al. Sci. Data 2, 150053 (2015)",
    role=("pt_source", "ft_target"),
    main_metric="mae",
    split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
)
