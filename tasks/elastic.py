"""log10 shear and bulk moduli (Voigt-Reuss-Hill) of 1,181 crystals (matminer ``elastic_tensor_2015``)."""

from tasks.base import RandomSplit, Task
from tasks.loaders import cleaned, table

_FILE = "raw/matminer_v0.4.0/elastic_tensor.csv.gz"
_CITATION = "de Jong, M. et al. Sci. Data 2, 150009 (2015)"
_NOTES = ("The 2015 elastic-tensor set (1,181 materials), the predecessor of matbench_log_gvrh/kvrh "
          "(10,987 materials, not available offline): compare trends with Matbench, not decimals. "
          "Targets are log10 of the modulus in GPa; values <= 0 cannot be logged and are dropped (none here).")

TASKS = [
    Task(
        name="log-gvrh",
        description="log10 of the Voigt-Reuss-Hill shear modulus G_VRH (DFT elastic tensors, Materials Project)",
        target="G_VRH",
        units="log10(GPa)",
        files=(_FILE,),
        loader=cleaned(table("structure", "G_VRH", "cif", id_column="material_id"), transform="log10"),
        citation=_CITATION,
        role=("pt_source", "ft_target"),
        split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
        target_transform="log10",
        pt_aliases=("gv",),
        notes=_NOTES,
    ),
    Task(
        name="log-kvrh",
        description="log10 of the Voigt-Reuss-Hill bulk modulus K_VRH (DFT elastic tensors, Materials Project)",
        target="K_VRH",
        units="log10(GPa)",
        files=(_FILE,),
        loader=cleaned(table("structure", "K_VRH", "cif", id_column="material_id"), transform="log10"),
        citation=_CITATION,
        role=("pt_source", "ft_target"),
        split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
        target_transform="log10",
        pt_aliases=("kv",),
        notes=_NOTES,
    ),
]
