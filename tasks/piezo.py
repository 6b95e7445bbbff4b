"""Maximum piezoelectric modulus of 941 DFPT-computed crystals (matminer ``piezoelectric_tensor``)."""

from tasks.base import RandomSplit, Task
from tasks.data import Source
from tasks.loaders import cleaned
from tasks.matbench import matminer_rows

TASK = Task(
    name="piezo",
    description="Maximum piezoelectric modulus eij_max of the 941-entry DFPT set (931 unique structures; Materials Project)",
    target="eij_max",
    units="C/m²",
    files=("raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz",),
    # reads the local CSV copy (CIF text) or matminer's upstream JSON (pymatgen dicts), whichever is present;
    # cleaning removes the 10 structures listed twice under different material ids (reported on the card)
    loader=cleaned(matminer_rows(structure_column="structure", id_column="material_id")),
    sources=(Source(url="https://ndownloader.figshare.com/files/13220621",
                    relpath="raw/matminer_v0.4.0/piezoelectric_tensor.json.gz",
                    sha256="dc9d04836f7f91ecb4ef6dc23e42468571be857f0fccafdfb51a5a40f19db898",
                    replaces="raw/matminer_v0.4.0/piezoelectric_tensor.csv.gz"),),
    citation="de Jong, M. et al. Sci. Data 2, 150053 (2015)",
    role=("pt_source", "ft_target"),
    main_metric="mae",
    split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
    pt_aliases=("pz",),
    # The paper's MPT trunk for PZ: the other six properties' pools (leave-target-out).
    mpt_sources=("devi2024-bg", "devi2024-fe", "devi2024-gv", "devi2024-ph", "devi2024-dc", "devi2024-ebg"),
)
