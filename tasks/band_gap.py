"""PBE band gap: the matminer dielectric set's gaps together with the CDVAE mp_20 subset, de-duplicated."""

from pathlib import Path

from tasks.base import RandomSplit, Task
from tasks.loaders import cleaned, frame_rows, read_csv

_DIELECTRIC = "raw/matminer_v0.4.0/dielectric_constant.csv.gz"
_MP20 = tuple(f"raw/cdvae_mp_20_subset_OPRYAN90/{s}.csv.gz" for s in ("train", "val", "test"))


def _read(task: Task, data_dir: Path):
    """Rows of both sources in declared order. A material_id seen in an earlier file is dropped here
    (same Materials Project entry); structure duplicates under different ids are found by cleaning."""
    from tasks.cleaning import SourceRows

    rows, dropped, groups, first = [], [], {}, {}
    for rel, path in zip(task.files, task.paths(data_dir)):
        structure_column = "structure" if rel == _DIELECTRIC else "cif"
        part = frame_rows(read_csv(path), structure_column, "band_gap", "cif", id_column="material_id")
        label = Path(rel).parent.name + "/" + Path(rel).name.split(".")[0]
        groups[label] = []
        for row in part:
            rid = row[0]
            if rid in first:
                earlier_label, earlier_gap = first[rid]
                dropped.append((f"{rid}@{label}", f"duplicate material_id: {rid} is also in {earlier_label} "
                                                  f"(band gap {row[2]:.4g} here, {earlier_gap:.4g} kept)"))
                continue
            first[rid] = (label, row[2])
            groups[label].append(rid)
            rows.append(row)
    return SourceRows(rows, dropped=dropped, groups=groups)


TASK = Task(
    name="band-gap",
    description="PBE band gap of Materials Project crystals: the matminer dielectric_constant set plus the "
                "CDVAE mp_20 subset (train/val/test), de-duplicated by structure and material_id",
    target="band_gap",
    units="eV",
    files=(_DIELECTRIC, *_MP20),
    loader=cleaned(_read),
    citation="Petousis, I. et al. Sci. Data 4, 160134 (2017); Xie, T. et al. ICLR (2022) (CDVAE mp_20); "
             "Jain, A. et al. APL Mater. 1, 011002 (2013)",
    role=("pt_source", "ft_target"),
    split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42),
    pt_aliases=("bg",),
    notes="Union of two Materials Project extracts (dielectric rows first, then mp_20 train, val, test). "
          "The dielectric set only holds materials with a gap > 0 (DFPT needs an insulator), mp_20 also "
          "metals (gap 0): the distribution is not matbench_mp_gap's. A small stand-in for matbench_mp_gap "
          "(106,113 materials, not available offline). Groups name the file each kept id came from.",
)
