"""A report page in two renderings (HTML with images inline, Markdown with img/ beside it) and the tables the
study report and the model cards share: cells, per-slice metrics, the gate."""
from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass
from typing import List, Optional

from dlqos.compare import metric_name
from dlqos.runs import StepRun


@dataclass(frozen=True)
class Link:
    """A table cell that links to another file of the report (a model card)."""

    label: str
    href: str


def fmt(value) -> str:
    if isinstance(value, Link):
        return f"[{value.label}]({value.href})"
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def is_count(name: str) -> bool:
    """Counts (TFMA's example_count and its _diff against the baseline, num_...) are whole numbers even when
    they arrive as floats."""
    last = str(name).rpartition(".")[2].removesuffix("_diff")
    return last.endswith("count") or last.startswith("num_")


def cell(name: str, value):
    """A table cell: a count as an int, so it prints as 1,000 rather than 1,000.0000."""
    if is_count(name) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def slice_rows(run: StepRun) -> List[list]:
    names = sorted({name for metrics in run.slices.values() for name in metrics})
    rows = [["slice"] + names]
    for slice_name in sorted(run.slices, key=lambda s: (s != "Overall", s)):
        rows.append([slice_name] + [cell(n, run.slices[slice_name].get(n)) for n in names])
    return rows


def gate_rows(run: StepRun) -> List[list]:
    """The thresholds the Evaluator applied, as TFMA's eval_config holds them, with the model's overall value of
    each metric and its change against the baseline (TFMA's _diff; none without a baseline)."""
    rows = [["metric", "threshold", "value", "change vs baseline"]]
    for threshold in run.thresholds:
        name = metric_name(threshold["metric"])
        rows.append([threshold["metric"], json.dumps({k: v for k, v in threshold.items() if k != "metric"}),
                     cell(name, run.overall.get(name)), cell(name, run.overall.get(f"{name}_diff"))])
    return rows


def gate_line(run: StepRun) -> str:
    failures = "; ".join(f"{f['slice']}: {f['metric']}" for f in run.validation["failures"]) or "none"
    return f"Validation {'passed' if run.validation['ok'] else 'FAILED'}; failures: {failures}."


def _htmlcell(value) -> str:
    """Numbers right-aligned; a sentence (the paper's metric and data) left-aligned and given room to read."""
    if isinstance(value, Link):
        return f'<td><a href="{html.escape(value.href)}">{html.escape(value.label)}</a></td>'
    wide = ' class="prose"' if isinstance(value, str) and len(value) > 30 else ""
    return f"<td{wide}>{html.escape(fmt(value))}</td>"


def _html_table(rows: List[list]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(_htmlcell(c) for c in row) + "</tr>" for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(rows: List[list]) -> str:
    lines = ["| " + " | ".join(str(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}img{max-width:100%}
td.prose{text-align:left;min-width:16em}.ok{color:#070}.bad{color:#b00}code{background:#f4f4f4;padding:0 .2em}"""


class Document:
    """A page in two renderings, built section by section side by side: HTML (self-contained, images inline) and
    Markdown (images written to img/ beside it). The study report is one; each model card is another."""

    def __init__(self, directory: str, title: str, intro: str, html_name: str = "index.html",
                 md_name: str = "REPORT.md"):
        self.directory = directory
        self.image_dir = os.path.join(directory, "img")
        self.title = title
        self.html_name = html_name
        self.md_name = md_name
        os.makedirs(directory, exist_ok=True)
        self.html_parts = [f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"]
        self.md_parts = [f"# {title}", "", intro, ""]

    def add_section(self, title: str, rows: Optional[List[list]] = None, png: Optional[bytes] = None,
                    image_name: str = "", text: str = "", level: int = 3) -> None:
        self.html_parts.append(f"<h{level}>{html.escape(title)}</h{level}>")
        self.md_parts.extend([f"{'#' * level} {title}", ""])
        if text:
            self.html_parts.append(f"<p>{html.escape(text)}</p>")
            self.md_parts.extend([text, ""])
        if rows:
            self.html_parts.append(_html_table(rows))
            self.md_parts.extend([_md_table(rows), ""])
        if png:
            self.html_parts.append(_img(png, title))
            os.makedirs(self.image_dir, exist_ok=True)
            with open(os.path.join(self.image_dir, image_name), "wb") as f:
                f.write(png)
            self.md_parts.extend([f"![{title}](img/{image_name})", ""])

    def write(self) -> tuple:
        """(HTML, Markdown) paths."""
        html_path = os.path.join(self.directory, self.html_name)
        with open(html_path, "w") as f:
            f.write(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(self.title)}</title>"
                    f"<style>{STYLE}</style></head><body>{''.join(self.html_parts)}</body></html>")
        md_path = os.path.join(self.directory, self.md_name)
        with open(md_path, "w") as f:
            f.write("\n".join(self.md_parts))
        return html_path, md_path
