"""The demo report: sections of metrics, figures and commands, written as Markdown and HTML,
with every number also in ``metrics.json``.

The HTML page embeds every figure as a base64 PNG, so it opens in a browser with no
network and survives being mailed on its own; the PNGs also sit next to it for the
Markdown file.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from symcl.atomic import atomic_write


@dataclass(frozen=True)
class Metric:
    """One row of a metrics table: what was measured, its value, and what to compare with."""

    name: str
    value: str
    reference: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG written by a demo part; ``path`` is relative to the report directory."""

    path: str
    caption: str


@dataclass
class Section:
    """What one demo part found: prose, metrics, figures and the commands that reproduce it."""

    title: str
    summary: str
    metrics: list[Metric] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    seconds: float = 0.0
    details: dict = field(default_factory=dict)  # the summary's numbers, for metrics.json


def render_markdown(title: str, preamble: str, sections: Sequence[Section]) -> str:
    """The report as Markdown; figures are linked by their relative paths."""
    lines = [f"# {title}", "", preamble, ""]
    lines += ["## Summary", "", "| part | measure | value | compare with |", "|---|---|---|---|"]
    for section in sections:
        lines += [
            "| " + " | ".join(_cell(text) for text in (section.title, m.name, m.value, m.reference)) + " |"
            for m in section.metrics
        ]
    for section in sections:
        lines += ["", f"## {section.title} ({section.seconds:.1f} s)", "", section.summary, ""]
        for figure in section.figures:
            lines += [f"![{figure.caption}]({figure.path})", "", f"*{figure.caption}*", ""]
        if section.commands:
            lines += ["Reproduce:", "", "```bash", *section.commands, "```"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    # A literal "|" would end the Markdown table cell.
    return text.replace("|", "\\|")


def render_html(title: str, preamble: str, sections: Sequence[Section], directory: str | os.PathLike) -> str:
    """The report as one self-contained HTML page (figures read from ``directory`` and inlined)."""
    directory = Path(directory)
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(s.title)}</td><td>{esc(m.name)}</td><td>{esc(m.value)}</td><td>{esc(m.reference)}</td></tr>"
        for s in sections
        for m in s.metrics
    )
    body = [
        f"<h1>{esc(title)}</h1>",
        f"<p>{esc(preamble)}</p>",
        "<h2>Summary</h2>",
        "<table><tr><th>part</th><th>measure</th><th>value</th><th>compare with</th></tr>" + rows + "</table>",
    ]
    for section in sections:
        body += [
            f"<h2>{esc(section.title)} <small>({section.seconds:.1f} s)</small></h2>",
            f"<p>{esc(section.summary)}</p>",
        ]
        for figure in section.figures:
            data = base64.b64encode((directory / figure.path).read_bytes()).decode("ascii")
            body.append(
                f'<figure><img alt="{esc(figure.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{esc(figure.caption)}</figcaption></figure>"
            )
        if section.commands:
            body.append("<p>Reproduce:</p><pre>" + esc("\n".join(section.commands)) + "</pre>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


REPORT_FILES = ("report.md", "report.html", "metrics.json")


def metrics_record(title: str, preamble: str, sections: Sequence[Section], files: Sequence[str] = ()) -> dict:
    """Everything the report shows, as JSON-ready data: each metric's text as shown, and as a
    number where the shown value is one; ``files`` are the files the run wrote."""
    return {
        "title": title,
        "preamble": preamble,
        "sections": [
            {
                "title": s.title,
                "seconds": round(s.seconds, 1),
                "metrics": [
                    {"name": m.name, "value": m.value, "number": _number(m.value), "reference": m.reference}
                    for m in s.metrics
                ],
                "details": s.details,
                "figures": [f.path for f in s.figures],
                "commands": s.commands,
            }
            for s in sections
        ],
        "files": sorted(files),
    }


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None  # JSON has no NaN


def write_report(
    directory: str | os.PathLike,
    title: str,
    preamble: str,
    sections: Sequence[Section],
    files: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``metrics.json`` into ``directory``, each atomically.

    ``files`` (paths relative to ``directory``) are listed in metrics.json as those the run wrote.
    """
    directory = Path(directory)
    markdown = render_markdown(title, preamble, sections)
    page = render_html(title, preamble, sections, directory)
    record = (
        json.dumps(metrics_record(title, preamble, sections, files), indent=1, ensure_ascii=False, default=float) + "\n"
    )
    texts = dict(zip(REPORT_FILES, (markdown, page, record), strict=True))
    return {
        name: atomic_write(directory / name, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
        for name, text in texts.items()
    }


def new_figure(ncols: int = 1, *, figsize: tuple[float, float]):
    """A matplotlib Figure on an Agg canvas and its axes (one row of ``ncols``).

    The object-oriented API, as in :mod:`symcl.plots`: no pyplot state and no backend
    switch, so the demo works headless and inside other programs.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, ncols)


def save_figure(figure, path: str | os.PathLike) -> Path:
    """Save a figure of :func:`new_figure` as PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1rem 0; }
img { max-width: 100%; }
figcaption { color: #555; font-size: 0.9rem; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
"""
