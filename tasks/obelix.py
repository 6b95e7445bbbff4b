"""Room-temperature Li-ion conductivity of solid electrolytes (OBELiX, official train split), log10 S/cm."""

import tarfile
from pathlib import Path, PurePosixPath

from tasks.base import RandomSplit, Task
from tasks.loaders import cleaned, read_csv

_CSV = "raw/obelix/train.csv"
_TAR = "raw/obelix/train_cifs.tar.gz"
_TARGET = "Ionic conductivity (S cm-1)"


def read_cifs(path: Path) -> dict[str, str]:
    """``{stem: CIF text}`` of every ``.cif`` in the archive, read in memory."""
    with tarfile.open(path, "r:gz") as tar:
        return {PurePosixPath(m.name).stem: tar.extractfile(m).read().decode("utf-8")
                for m in tar.getmembers() if m.isfile() and m.name.endswith(".cif")}


def _read(task: Task, data_dir: Path):
    """One row per ID; its CIF is ``<ID>.cif`` in the archive (rows whose 'Cif ID' is not 'done' have none)."""
    from tasks.cleaning import SourceRows

    csv_path, tar_path = task.paths(data_dir)
    frame = read_csv(csv_path, dtype={_TARGET: str})
    cifs = read_cifs(tar_path)
    rows, dropped = [], []
    for rid, conductivity, cif_state in zip(frame["ID"].astype(str), frame[_TARGET], frame["Cif ID"]):
        if rid not in cifs:
            state = "empty" if not isinstance(cif_state, str) else repr(cif_state)
            dropped.append((rid, f"missing structure: no {rid}.cif in {Path(_TAR).name} ('Cif ID' is {state})"))
            continue
        rows.append((rid, cifs[rid], conductivity, "cif"))
    known = set(frame["ID"].astype(str))
    dropped += [(f"{stem}.cif", "orphan CIF: no row of train.csv has this ID") for stem in cifs if stem not in known]
    return SourceRows(rows, dropped=dropped)


TASK = Task(
    name="obelix",
    description="Experimental room-temperature Li-ion conductivity of solid electrolytes (OBELiX train split), "
                "log10 of S/cm; many structures are partially occupied (disordered)",
    target=_TARGET,
    units="log10(S/cm)",
    files=(_CSV, _TAR),
    loader=cleaned(_read, transform="log10"),
    citation="Therrien, F. et al. OBELiX: a curated dataset of crystal structures and experimentally measured "
             "ionic conductivities for lithium solid-state electrolytes. arXiv:2502.14234 (2025)",
    role=("ft_target",),
    split=RandomSplit(test_fraction=0.1, val_fraction=0.1, seed=42, ft_sizes=(10, 100)),
    target_transform="log10",
    notes=(
        "Rows and CIFs: train.csv has 478 rows with unique IDs; train_cifs.tar.gz holds 254 CIFs, one per row "
        "whose 'Cif ID' is 'done', named <ID>.cif (all 254 texts distinct, no orphan CIF). The 478 vs 254 gap is "
        "rows without any CIF ('Cif ID' 'not available': 217, empty: 7), dropped as missing structure; 27 of them "
        "share a composition with a row that has a CIF but are not given that CIF (conductivity depends on "
        "processing, not only on the structure). 28 rows with a CIF report the conductivity only as a bound "
        "('<1E-10': 27, '<1E-8': 1) and are dropped as censored. Usable: 226 rows with a CIF and a positive "
        "conductivity, 178 of them with partially occupied sites; disordered structures are kept, not dropped. "
        "Several rows are repeated measurements of one material by different groups (same composition and "
        "structure, often a different disorder model): structure de-duplication keeps the first row of each, "
        "removing 14 (7 of them with conductivities differing by more than a quarter of the target std); "
        "212 records remain, 166 disordered. Doping series share a source CIF (the usable rows cite 82 distinct "
        "'Cif ref_1' entries, 50 cite none) but differ in composition and stay separate. Disorder is "
        "represented by occupancy-weighted CGCNN atom features on each site (every species on a site, weighted "
        "by its occupancy: bench.graphs.build.site_species); bonds and angles use the site positions as given. "
        "52 usable rows are flagged 'close match' by OBELiX (the CIF is of a closely related, not the exact, "
        "reported composition)."),
)
