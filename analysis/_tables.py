"""Tables 1-3 of the paper as Markdown and LaTeX, from recorded runs: robots x methods per part.

A cell (``analysis._table_cells``) shows its IQM over seeds x targets with a stratified bootstrap 95 %
interval, e.g. ``31.2 [24.0, 38.5] n=3×1``: 3 seeds x 1 target per seed; a single seed shows no interval.
The last row, ``All targets``, pools every target of every recorded robot. Bold only where the best
method's interval lies above every other method's; never for Still. Parts of a table without any run are
left out and named on one line ("Not run: ..."); a table none of whose parts ran is not written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from analysis._aggregate import REPS
from analysis._runs import RunRecord
from analysis._table_cells import Cell, separated_best, table_data
from analysis._table_layout import ALL_ROW, METHOD_LABELS, STILL, TableSpec, not_run, ordered_methods

__all__ = ["format_cell", "table_markdown", "table_latex"]

MISSING_MD = "—"
MISSING_TEX = "--"


def _num(x: float) -> str:
    return f"{x:.1f}"


def format_cell(c: Cell | None, bold: bool = False, tex: bool = False) -> str:
    """``31.2 [24.0, 38.5] n=3×1`` (IQM, 95 % interval, seeds × targets per seed); one seed: no interval."""
    if c is None:
        return MISSING_TEX if tex else MISSING_MD
    e = c.estimate
    times = "$\\times$" if tex else "×"
    n = f"n={e.runs}{times}{e.tasks}"
    text = f"{_num(e.point)} [{_num(e.lo)}, {_num(e.hi)}] {n}" if c.has_interval else f"{_num(e.point)} {n}"
    if bold:
        return f"\\textbf{{{text}}}" if tex else f"**{text}**"
    return text


def _row_label(row: str) -> str:
    return "All targets" if row == ALL_ROW else row.capitalize()


def _seeds_note(rows: Mapping[str, Mapping[str, Cell | None]]) -> str:
    seeds = sorted({s for row in rows.values() for c in row.values() if c is not None for s in c.seeds})
    left = sorted({s for row in rows.values() for c in row.values() if c is not None for s in c.left_out})
    note = ", ".join(str(s) for s in seeds)
    if left:
        note += " (left out, another number of targets: " + ", ".join(str(s) for s in left) + ")"
    return note


AGGREGATION_NOTE = (
    "IQM of the normalized return over seeds × targets [95 % stratified bootstrap interval: seeds "
    "resampled within each target slot]; n=s×t: s seeds × t targets per seed (a single seed: no "
    "interval). Bold: the best method's interval lies above every other method's (none when they "
    "overlap). All targets: every target of every robot."
)
STILL_NOTE = " Still: an upright robot that does not move on the same targets (the reference, never bold)."


def table_markdown(
    runs: Sequence[RunRecord], spec: TableSpec, *, reps: int = REPS, seed: int = 0
) -> str | None:
    """The table as Markdown, one robots x methods sub-table per part that was run; None when no part was.

    Each cell: IQM [95 % interval] n=seeds×targets (``format_cell``); bold only where the best method's
    interval is separated from the others (``separated_best``); one line names the parts not run.
    """
    data = table_data(runs, spec, reps=reps, seed=seed)
    if not data:
        return None
    lines = [f"## {spec.title}", ""]
    missing = not_run(runs, [spec])
    if missing:
        lines += ["Not run: " + ", ".join(f"`{p}`" for p in missing) + ".", ""]
    captions = dict(spec.parts)
    for protocol, rows in data.items():
        methods = list(next(iter(rows.values())).keys())
        lines += [f"### {captions[protocol]} (`{protocol}`)", ""]
        lines.append("| Robot | " + " | ".join(METHOD_LABELS.get(m, m) for m in methods) + " |")
        lines.append("|---|" + "---|" * len(methods))
        for name, row in rows.items():
            best = separated_best(row)
            cells = [format_cell(row[m], m == best) for m in methods]
            lines.append(f"| {_row_label(name)} | " + " | ".join(cells) + " |")
        note = AGGREGATION_NOTE + (STILL_NOTE if STILL in methods else "")
        lines += ["", f"Seeds: {_seeds_note(rows)}. {note}", ""]
    return "\n".join(lines)


def _tex_escape(s: str) -> str:
    return s.replace("α", "$\\alpha$").replace("β", "$\\beta$").replace("_", "\\_").replace("±", "$\\pm$")


def table_latex(runs: Sequence[RunRecord], spec: TableSpec, *, reps: int = REPS, seed: int = 0) -> str | None:
    """The table as a LaTeX ``table``: the parts that were run, two side by side per block (the paper's
    layout); None when no part was run. Cells as in ``table_markdown``."""
    data = table_data(runs, spec, reps=reps, seed=seed)
    if not data:
        return None
    captions = dict(spec.parts)
    protocols = list(data)
    methods = ordered_methods(runs, protocols)
    ncols = len(methods)
    width = min(2, len(protocols))
    out = ["\\begin{table}[t]", "\\centering", "\\small"]
    out.append("\\begin{tabular}{l" + ("|" + "c" * ncols) * width + "}")
    out.append("\\hline")
    for i in range(0, len(protocols), 2):
        block = protocols[i : i + 2]
        heads = " & ".join(f"\\multicolumn{{{ncols}}}{{c}}{{{_tex_escape(captions[p])}}}" for p in block)
        out.append(f" & {heads} \\\\")
        labels = " & ".join(METHOD_LABELS.get(m, _tex_escape(m)) for m in methods)
        out.append(" & " + " & ".join([labels] * len(block)) + " \\\\")
        out.append("\\hline")
        names = list(dict.fromkeys(n for p in block for n in data[p]))
        names = [n for n in names if n != ALL_ROW] + [ALL_ROW]
        for name in names:
            cells = []
            for p in block:
                row = data[p].get(name, {m: None for m in methods})
                best = separated_best(row)
                cells += [format_cell(row.get(m), m == best, tex=True) for m in methods]
            out.append(f"{_row_label(name)} & " + " & ".join(cells) + " \\\\")
        out.append("\\hline")
    out.append("\\end{tabular}")
    caption = _tex_escape(spec.title.split(": ", 1)[-1])
    note = (
        "Normalized return: IQM over seeds $\\times$ targets [95\\,\\% stratified bootstrap interval]; "
        "n=s$\\times$t: seeds $\\times$ targets per seed; bold where the best interval lies above every "
        "other method's."
    )
    missing = not_run(runs, [spec])
    if missing:
        note += " Not run: " + ", ".join(_tex_escape(p) for p in missing) + "."
    out.append(f"\\caption{{{caption}. {note}}}")
    out.append(f"\\label{{tab:{spec.name}}}")
    out.append("\\end{table}")
    return "\n".join(out) + "\n"
