"""Result records: one small JSON per finished run (config, metrics, split ids, provenance; no weights),
committed under ``leaderboard/results/`` and read by the leaderboard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent.parent / "leaderboard" / "results"


def record_name(record: dict) -> str:
    c = record["config"]
    pt = c.get("pretrain") or {}
    source = pt.get("source") or ("+".join(pt["sources"]) if pt.get("sources") else "")
    strategy = c["strategy"] + (f"-{source}" if c["strategy"] == "ptft" else "")
    split = c["split"]
    part = (f"fold{split['fold']}" if split.get("fold") is not None else
            f"n{split['ft_size']}-t{split['trial']}" if split.get("ft_size") else "full")
    mode = "" if c.get("ft_mode", "all") == "all" else f"__{c['ft_mode']}"
    # ALIGNN's names stay as committed; any other backbone (a baseline: mean, composition-gbr) is named, so
    # its files are not mistaken for ALIGNN's in a listing
    backbone = "" if c.get("backbone", "alignn") == "alignn" else f"__{c['backbone']}"
    return (f"{c['task']}{backbone}__{strategy}{mode}__{c['budget']}__{part}__seed{c['seed']}__"
            f"{record['run_key']}.json")


def export_record(result_json: Path, out_dir: Path = RESULTS_DIR) -> Path:
    record = json.loads(Path(result_json).read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / record_name(record)
    shutil.copyfile(result_json, dest)
    return dest
