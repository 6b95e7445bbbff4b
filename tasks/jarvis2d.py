"""JARVIS-DFT 2D monolayers: exfoliation energy and OptB88vdW band gap."""

from tasks.base import RandomSplit, Task
from tasks.loaders import cleaned, jarvis

_FILE = "raw/jarvis_ijarvis/dft2d.json.zip"
_CITATION = ("Choudhary, K. et al. Sci. Rep. 7, 5179 (2017); Choudhary, K. et al. npj Comput. Mater. 6, 173 "
             "(2020) (JARVIS)")

TASKS = [
    Task(
        name="jarvis2d-exfoliation",
        description="Exfoliation energy of 2D materials (JARVIS-DFT 2D, OptB88vdW): bulk vs monolayer energy",
        target="exfoliation_energy",
        units="meV/atom",
        files=(_FILE,),
        loader=cleaned(jarvis("exfoliation_energy")),
        citation=_CITATION,
        role=("ft_target",),
        split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42, ft_sizes=(10, 100, 200, 500)),
        notes="The source of matbench_jdft2d (636 entries after Matbench's own filtering); rows without an "
              "exfoliation energy ('na'/-99999) are dropped. Structures are the monolayers (with vacuum).",
    ),
    Task(
        name="jarvis2d-gap",
        description="OptB88vdW band gap of 2D monolayers (JARVIS-DFT 2D); out of domain for models "
                    "pre-trained on bulk crystals",
        target="optb88vdw_bandgap",
        units="eV",
        files=(_FILE,),
        loader=cleaned(jarvis("optb88vdw_bandgap")),
        citation=_CITATION,
        role=("ft_target", "ood_target"),
        split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
        notes="Out-of-domain target (as the paper's 2D task): monolayer slabs with vacuum, a functional "
              "(OptB88vdW) other than the bulk sources' PBE. The paper used a 2021 JARVIS 2D release (1,103 "
              "entries) min-max scaled; this is the 2022 release (1,076) in eV.",
    ),
]
