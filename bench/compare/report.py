"""``bench compare``'s outputs: the ranked table on the terminal, ``compare.json``, and an HTML page.

The page takes the leaderboard's look and figures: the site's stylesheet and script (``leaderboard.pages``) and
``group_runs``, ``plot_parity``, ``plot_learning_curves`` of ``leaderboard.build``: the runs' records
become a leaderboard board, so the parity plots and the learning curve are the leaderboard's own. The ranked
table, with its paired columns, is this module's.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

from bench.compare.stats import METRIC_LABELS, Table, format_p, higher_is_better

FORMAT = "tl-bench-compare/1"


def _num(x: float | None, digits: int = 4) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _size_title(result, size) -> str:
    d = result.design
    return (f"{len(d.pairs)} CV folds" if d.by_fold else
            f"FT size {size}, {len(d.pairs)} trial{'s' * (len(d.pairs) != 1)}")


def table_rows(table: Table) -> list[dict]:
    """The table as plain values (JSON, the terminal, the page)."""
    out = []
    for rank, r in enumerate(table.rows, 1):
        p = r.paired
        out.append({"rank": rank, "candidate": r.label, "n": r.n, "mean": r.mean, "std": r.std,
                    "values": {str(k): v for k, v in sorted(r.values.items())},
                    "diff_mean": p.mean if p else None, "ci_low": p.ci[0] if p and p.ci else None,
                    "ci_high": p.ci[1] if p and p.ci else None, "p": p.p if p else None,
                    "n_pairs": p.n if p else None, "verdict": r.verdict or ("reference" if p is None else ""),
                    "note": p.note if p else ""})
    return out


def to_json(result, command: str) -> dict:
    return {"format": FORMAT, "task": result.spec.task, "target": result.target, "units": result.units,
            "metric": result.metric, "higher_is_better": higher_is_better(result.metric),
            "budget": result.spec.budget, "pairs": result.design.pair_word, "pair_ids": list(result.design.pairs),
            "reference": result.reference, "candidates": [c.label for c in result.spec.candidates],
            "command": command, "estimate_seconds": result.estimate_seconds,
            "tables": [{"ft_size": size, "recommendation": t.recommendation, "rows": table_rows(t)}
                       for size, t in result.tables],
            "runs": [{"candidate": c.candidate, "ft_size": c.ft_size, result.design.pair_word[:-1]: c.pair,
                      "run_key": c.run_key, "run_id": c.run_id, "metrics": c.metrics,
                      "record": str(c.record_path) if c.record_path else None} for c in result.cells],
            "failures": result.failures}


def print_tables(result, console) -> None:
    from rich.table import Table as RichTable

    name = METRIC_LABELS.get(result.metric, result.metric)
    for size, t in result.tables:
        direction = "higher" if t.higher_is_better else "lower"
        table = RichTable(title=f"{result.spec.task}: test {name} ({direction} is better), "
                                f"{_size_title(result, size)}",
                          caption=f"Δ = candidate − {t.reference} on the same {t.pair_word}, averaged; "
                                  "95 % t interval over the pairs; p: paired t test")
        for col in ("#", "candidate", "n", f"{name} ± std", f"Δ vs {t.reference} [95 % CI]", "p", "verdict"):
            table.add_column(col, justify="left" if col in ("candidate", "verdict") else "right",
                             no_wrap=col in ("candidate", "verdict"))
        for row in table_rows(t):
            diff = ""
            if row["diff_mean"] is not None:
                ci = (f"[{_num(row['ci_low'], 3)}, {_num(row['ci_high'], 3)}]" if row["ci_low"] is not None
                      else "[n/a]")
                diff = f"{row['diff_mean']:+.3g} {ci}"
            table.add_row(str(row["rank"]), row["candidate"], str(row["n"]),
                          f"{_num(row['mean'])} ± {_num(row['std'], 2)}", diff,
                          "" if row["verdict"] == "reference" else format_p(row["p"]), row["verdict"])
        console.print(table)
        console.print(f"Recommendation: {t.recommendation}", highlight=False)


def _runs(result) -> list:
    from leaderboard.records import RecordError, load_record

    runs = []
    for cell in result.cells:
        if cell.record_path is not None:
            try:
                runs.append(load_record(cell.record_path))
            except RecordError:
                continue  # a damaged record: its numbers are in the table, it just has no parity panel
    return runs


def _figures(result, img_dir: Path) -> dict[str, str | None]:
    from leaderboard.build import group_runs, plot_learning_curves, plot_parity

    boards = group_runs(_runs(result))
    board = boards.get(result.spec.task)
    if board is None:
        return {"parity": None, "curves": None}
    img_dir.mkdir(parents=True, exist_ok=True)
    parity = plot_parity(board, img_dir)
    curves = plot_learning_curves(board, img_dir) if len(result.design.sizes) > 1 else None
    return {k: f"img/{p.name}" if p else None for k, p in (("parity", parity), ("curves", curves))}


def _html_table(table: Table, result, index: int) -> str:
    name = METRIC_LABELS.get(result.metric, result.metric)
    head = "".join(f"<th>{esc(h)}</th>" for h in ("#", "candidate", "n", f"{name} mean", "std",
                                                   f"Δ vs {table.reference}", "95 % CI low", "95 % CI high",
                                                   "p", "verdict", f"per {table.pair_word[:-1]}"))
    body = []
    for row in table_rows(table):
        per = ", ".join(f"{k}: {_num(v)}" for k, v in row["values"].items())
        cells = [str(row["rank"]), row["candidate"], str(row["n"]), _num(row["mean"]), _num(row["std"], 3),
                 "" if row["diff_mean"] is None else f"{row['diff_mean']:+.4g}", _num(row["ci_low"], 3),
                 _num(row["ci_high"], 3), "" if row["verdict"] == "reference" else format_p(row["p"]),
                 row["verdict"], per]
        tds = "".join(f'<td class="{"num" if i not in (1, 9, 10) else "label" if i == 1 else ""}">{esc(c)}</td>'
                      for i, c in enumerate(cells))
        body.append(f'<tr class="candidate">{tds}</tr>')
    return (f'<table class="board sortable" id="ranked-{index}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def render_page(result, command: str, images: dict) -> str:
    from leaderboard.pages import environment

    CSS, SORT_JS = environment().globals["site_css"], environment().globals["site_js"]

    name = METRIC_LABELS.get(result.metric, result.metric)
    hib = higher_is_better(result.metric)
    sections = []
    for i, (size, t) in enumerate(result.tables):
        sections.append(f"<h2>{esc(_size_title(result, size))}</h2>\n"
                        f'<p class="recommendation"><b>Recommendation:</b> {esc(t.recommendation)}</p>\n'
                        + _html_table(t, result, i))
    if not result.tables:
        sections.append("<p>No table: the scratch runs did not finish (see the failures below).</p>")
    figs = []
    if images.get("curves"):
        figs.append(f'<h2>Learning curve</h2><figure><img src="{esc(images["curves"])}" class="plot curves" '
                    f'alt="learning curve"><figcaption>Test {esc(name)} against the FT size; error bars: standard '
                    f"deviation over {esc(result.design.pair_word)}.</figcaption></figure>")
    if images.get("parity"):
        figs.append(f'<h2>Parity plots</h2><figure><img src="{esc(images["parity"])}" class="plot parity" '
                    'alt="parity plots"><figcaption>Predicted against true test values per candidate (leaderboard '
                    "labels), pooled over its runs at its best FT size.</figcaption></figure>")
    fails = ("<h2>Failed runs</h2><ul>" + "".join(f"<li>{esc(f)}</li>" for f in result.failures) + "</ul>"
             if result.failures else "")
    units = f", units {esc(result.units)}" if result.units else ""
    body = (f"<h1>Which transfer strategy for {esc(result.spec.task)}?</h1>\n"
            f'<p class="meta">target <b>{esc(result.target)}</b>{units} · main metric <b>{esc(name)}</b> '
            f"({'higher' if hib else 'lower'} is better) · budget {esc(result.spec.budget)} · "
            f"{len(result.cells)} runs</p>\n" + "\n".join(sections) + "\n"
            '<p class="caption">Δ is the candidate minus scratch on the same trial (or fold), averaged; the 95 % '
            "interval is a t interval over those pairs and p a paired t test (scipy ttest_rel). An interval wholly "
            "on the better side of 0 reads <i>likely better</i>; one across 0 <i>not distinguishable</i>; with "
            "fewer than 2 pairs there is no interval (n/a). See docs/compare.md.</p>\n"
            + "\n".join(figs) + fails
            + f'\n<h2>Reproduce</h2><pre class="command"><code>{esc(command)}</code></pre>')
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(result.spec.task)} · bench compare</title>\n<style>{CSS}</style>\n</head>\n"
            f"<body>\n{body}\n<script>{SORT_JS}</script>\n</body>\n</html>\n")


def write_report(result, out_dir: Path, command: str) -> Path:
    """``out_dir/index.html``, ``out_dir/compare.json`` and the figures under ``out_dir/img/``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = _figures(result, out_dir / "img")
    (out_dir / "compare.json").write_text(json.dumps(to_json(result, command), indent=2, default=str))
    page = out_dir / "index.html"
    page.write_text(render_page(result, command, images))
    return page


def command_line(result) -> str:
    """The command that reproduces this comparison, every choice spelled out (the defaults resolved), quoted
    for a shell."""
    spec, d = result.spec, result.design
    args = ["bench", "compare", "--task", spec.task, "--candidates", ",".join(c.label for c in spec.candidates)]
    args += ["--folds", str(len(d.pairs))] if d.by_fold else ["--trials", str(len(d.pairs))]
    if not d.by_fold:
        args += ["--ft-size", str(d.sizes[0])] if len(d.sizes) == 1 else ["--ft-sizes", ",".join(map(str, d.sizes))]
    args += ["--budget", spec.budget, "--seed", str(spec.seed)]
    if spec.epochs is not None:
        args += ["--epochs", str(spec.epochs)]
    if spec.workers > 1:
        args += ["--workers", str(spec.workers)]
    return shlex.join(args)


def esc(value) -> str:
    import html

    return html.escape(str(value), quote=True)
