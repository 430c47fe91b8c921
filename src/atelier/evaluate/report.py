"""Write an evaluation as ``metrics.json`` (machine readable), ``report.md`` and ``report.html`` (with plots).

The two human reports are rendered from one list of blocks (headings, paragraphs, tables, figures), so they
always say the same thing; the HTML embeds its pictures and opens anywhere, the Markdown links ``plots/*.png``.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.figure import Figure  # the object API: no pyplot state, no display backend needed
from rich.table import Table as Table_

from atelier.evaluate import Evaluation
from atelier.evaluate.results import Row

WIDGET_TITLES = {
    "together": "Top Picks Together",
    "similar": "Similar Styles",
    "personal": "Personalized Picks",
}
# The figure each widget is judged by first.
HEADLINE = {"together": "hit_rate", "similar": "precision", "personal": "ndcg"}
TABLE_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr", "coverage", "novelty", "diversity")
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:84rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;font-size:0.85rem;margin:0.5rem 0 1rem}"
    "td,th{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:right}"
    "td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}"
    "img{max-width:100%}figure{margin:1rem 0}figcaption{color:#555;font-size:0.9rem}"
)
READING = (
    "Each figure is a mean over the population's queries (users, baskets or catalogue items) with its bootstrap "
    "standard error (± SE, resampling the queries). A comparison with the baseline is the mean paired difference on "
    "the same queries and resamples: a difference within two standard errors is **noise**, not a result."
)


@dataclass(frozen=True)
class Heading:
    text: str
    level: int


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Picture:
    path: Path  # relative to the report folder
    caption: str


Block = Heading | Paragraph | Table | Picture


def write_report(evaluation: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """Write metrics.json, report.md, report.html and plots/ into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    paths = {"metrics": out / "metrics.json", "markdown": out / "report.md", "html": out / "report.html"}
    paths["metrics"].write_text(json.dumps(metrics_document(evaluation), indent=1, allow_nan=False) + "\n")
    blocks = _blocks(evaluation, out)
    paths["markdown"].write_text(_markdown(blocks))
    paths["html"].write_text(_html(blocks, out))
    return paths


def metrics_document(evaluation: Evaluation) -> dict:
    """The machine-readable report (NaN written as null)."""
    return {
        "data_dir": evaluation.data_dir,
        "split": evaluation.split,
        "k": evaluation.ks,
        "baseline": evaluation.baseline,
        "bootstrap_resamples": evaluation.bootstrap,
        "seed": evaluation.seed,
        "populations": evaluation.populations,
        "notes": evaluation.notes,
        "metrics": [_clean(asdict(r)) for r in evaluation.rows],
        "comparisons": [_clean(c.as_dict()) for c in evaluation.comparisons],
    }


def headline(ev: Evaluation) -> Table_:
    """A terminal table: each widget's headline metric at the largest k, per method, against the baseline."""
    k = max(ev.ks)
    table = Table_(title=f"evaluation at k={k} ({ev.split}; differences within 2 SE are noise)")
    for column in ("widget", "population", "method", "metric", "value ± SE", "vs baseline", "n"):
        table.add_column(column, justify="left" if column in {"widget", "population", "method"} else "right")
    verdicts = {(c.widget, c.population, c.method, c.metric): c for c in ev.comparisons if c.k == k}
    for r in ev.rows:
        if r.segment != "all" or r.k != k or r.metric != HEADLINE[r.widget]:
            continue
        c = verdicts.get((r.widget, r.population, r.method, r.metric))
        versus = f"{c.diff:+.4f} ± {c.se:.4f} {c.verdict} (vs {c.baseline})" if c else "baseline"
        table.add_row(r.widget, r.population, r.method, f"{r.metric}@{k}", _pm(r), versus, f"{r.n_users:,}")
    return table


# -- content -------------------------------------------------------------------------------------------------------
def _blocks(ev: Evaluation, out: Path) -> list[Block]:
    k = max(ev.ks)
    blocks: list[Block] = [
        Heading("Atelier evaluation report", 1),
        Paragraph(
            f"Data `{ev.data_dir}` · split {ev.split} · k = {', '.join(map(str, ev.ks))} · baseline "
            f"`{ev.baseline}` · {ev.bootstrap} bootstrap resamples · seed {ev.seed}"
        ),
        Paragraph(READING),
    ]
    for widget in ev.notes:
        blocks.append(Heading(WIDGET_TITLES[widget], 2))
        blocks += [Paragraph(note) for note in ev.notes[widget]]
        populations = [p["population"] for p in ev.populations if p["widget"] == widget]
        for population in populations:
            rows = [r for r in ev.rows if r.widget == widget and r.population == population]
            if not rows:
                continue
            n = next(
                p["n_users"]
                for p in ev.populations
                if p["widget"] == widget and p["population"] == population
            )
            blocks.append(Heading(f"{population} (n = {n:,})", 3))
            blocks.append(_metric_table(rows, k))
            blocks.append(_comparison_table(ev, widget, population, k))
            blocks += _segment_blocks(rows, widget, k)
        if populations:
            blocks.append(_plot_metric_vs_k(ev, widget, populations, out))
            blocks.append(_plot_coverage_vs_accuracy(ev, widget, populations[0], k, out))
            segments = _plot_segments(ev, widget, populations[0], k, out)
            if segments:
                blocks.append(segments)
    return blocks


def _metric_table(rows: list[Row], k: int) -> Table:
    by_method: dict[str, dict[str, Row]] = defaultdict(dict)
    for r in rows:
        if r.segment == "all" and r.k == k:
            by_method[r.method][r.metric] = r
    metrics = [m for m in TABLE_METRICS if any(m in cells for cells in by_method.values())]
    header = ["method", *[f"{m}@{k}" for m in metrics], "n"]
    body = [
        [f"`{method}`", *[_pm(cells.get(m)) for m in metrics], f"{max(c.n_users for c in cells.values()):,}"]
        for method, cells in by_method.items()
    ]
    return Table(header, body)


def _comparison_table(ev: Evaluation, widget: str, population: str, k: int) -> Table | Paragraph:
    by_method: dict[str, dict[str, str]] = defaultdict(dict)
    baselines = set()
    for c in ev.comparisons:
        if c.widget == widget and c.population == population and c.k == k and c.metric in TABLE_METRICS[:6]:
            by_method[c.method][c.metric] = f"{c.diff:+.4f} ± {c.se:.4f} {c.verdict}"
            baselines.add(c.baseline)
    if not by_method:
        return Paragraph("No comparison: a single method was measured on these queries.")
    metrics = [m for m in TABLE_METRICS[:6] if any(m in cells for cells in by_method.values())]
    header = [f"difference vs `{', '.join(sorted(baselines))}`", *[f"{m}@{k}" for m in metrics]]
    return Table(
        header, [[f"`{m}`", *[cells.get(x, "–") for x in metrics]] for m, cells in by_method.items()]
    )


def _segment_blocks(rows: list[Row], widget: str, k: int) -> list[Block]:
    metric = HEADLINE[widget]
    cells: dict[str, dict[str, Row]] = defaultdict(dict)
    for r in rows:
        if r.segment != "all" and r.k == k and r.metric == metric:
            cells[r.segment][r.method] = r
    if not cells:
        return []
    methods = sorted({m for by in cells.values() for m in by})
    header = ["segment", *[f"`{m}` {metric}@{k}" for m in methods], "n"]
    body = [
        [seg, *[_pm(by.get(m)) for m in methods], f"{max(r.n_users for r in by.values()):,}"]
        for seg, by in sorted(cells.items())
    ]
    return [Paragraph(f"By segment ({metric}@{k}):"), Table(header, body)]


# -- plots ---------------------------------------------------------------------------------------------------------
def _plot_metric_vs_k(ev: Evaluation, widget: str, populations: list[str], out: Path) -> Picture:
    metrics = (
        ["precision"]
        if widget == "similar"
        else [HEADLINE[widget], "recall" if widget == "personal" else "mrr"]
    )
    panels = [(p, m) for p in populations for m in metrics]
    cols = min(3, len(panels))
    n_rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * n_rows))
    axes = fig.subplots(n_rows, cols, squeeze=False)
    for ax, (population, metric) in zip(axes.ravel(), panels, strict=False):
        series = _series(ev.rows, widget, population, metric)
        for method, points in sorted(series.items()):
            ks, values, ses = zip(*sorted(points), strict=True)
            ax.errorbar(ks, values, yerr=ses, marker="o", capsize=3, label=method)
        ax.set_title(f"{population}: {metric}", fontsize=10)
        ax.set_xlabel("k")
        ax.set_xticks(ev.ks)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=8)
    fig.suptitle(f"{WIDGET_TITLES[widget]}: metric vs k (± 1 SE)")
    return _save(fig, out, f"{widget}_metric_vs_k.png", f"{WIDGET_TITLES[widget]}: metric vs k per method")


def _plot_coverage_vs_accuracy(ev: Evaluation, widget: str, population: str, k: int, out: Path) -> Picture:
    metric = HEADLINE[widget]
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    cov = {r.method: r.value for r in ev.rows if _at(r, widget, population, "coverage", k)}
    acc = {r.method: r for r in ev.rows if _at(r, widget, population, metric, k)}
    for method in sorted(acc):
        if method in cov:
            ax.errorbar(
                cov[method], acc[method].value, yerr=acc[method].se, marker="o", capsize=3, label=method
            )
            ax.annotate(method, (cov[method], acc[method].value), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel(f"catalogue coverage@{k}")
    ax.set_ylabel(f"{metric}@{k}")
    ax.set_title(f"{WIDGET_TITLES[widget]} ({population}): coverage vs accuracy", fontsize=10)
    ax.grid(alpha=0.3)
    return _save(
        fig, out, f"{widget}_coverage_vs_accuracy.png", f"{WIDGET_TITLES[widget]}: coverage vs accuracy"
    )


def _plot_segments(ev: Evaluation, widget: str, population: str, k: int, out: Path) -> Picture | None:
    metric = HEADLINE[widget]
    rows = [
        r
        for r in ev.rows
        if r.widget == widget
        and r.population == population
        and r.segment != "all"
        and r.metric == metric
        and r.k == k
    ]
    if not rows:
        return None
    segments = sorted({r.segment for r in rows})
    methods = sorted({r.method for r in rows})
    width = 0.8 / len(methods)
    fig = Figure(figsize=(max(5.0, 1.1 * len(segments) + 2), 4))
    ax = fig.subplots()
    for i, method in enumerate(methods):
        by_seg = {r.segment: r for r in rows if r.method == method}
        xs = [j + i * width for j in range(len(segments))]
        ax.bar(
            xs,
            [by_seg[s].value for s in segments],
            width,
            yerr=[by_seg[s].se for s in segments],
            capsize=2,
            label=method,
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(segments))])
    sizes = {r.segment: r.n_users for r in rows}
    ax.set_xticklabels([f"{s.split('=', 1)[-1]}\n(n={sizes[s]})" for s in segments], fontsize=8)
    ax.set_ylabel(f"{metric}@{k}")
    ax.set_title(f"{WIDGET_TITLES[widget]} ({population}) by {segments[0].split('=')[0]}", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, out, f"{widget}_by_segment.png", f"{WIDGET_TITLES[widget]}: results by user segment")


def _series(
    rows: list[Row], widget: str, population: str, metric: str
) -> dict[str, list[tuple[int, float, float]]]:
    series: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for r in rows:
        if r.widget == widget and r.population == population and r.metric == metric and r.segment == "all":
            series[r.method].append((r.k, r.value, 0.0 if math.isnan(r.se) else r.se))
    return series


def _at(r: Row, widget: str, population: str, metric: str, k: int) -> bool:
    return (
        r.widget == widget
        and r.population == population
        and r.metric == metric
        and r.k == k
        and r.segment == "all"
    )


def _save(fig: Figure, out: Path, name: str, caption: str) -> Picture:
    fig.tight_layout()
    fig.savefig(out / "plots" / name, dpi=100, metadata={"Software": None})
    return Picture(Path("plots") / name, caption)


# -- rendering -----------------------------------------------------------------------------------------------------
def _markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Paragraph):
            lines += [b.text, ""]
        elif isinstance(b, Table):
            lines.append("| " + " | ".join(b.header) + " |")
            lines.append("|" + "|".join(" --- " for _ in b.header) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in b.rows]
            lines.append("")
        else:
            lines += [f"![{b.caption}]({b.path.as_posix()})", ""]
    return "\n".join(lines)


def _html(blocks: list[Block], out: Path) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Atelier evaluation report</title>",
        f"<style>{STYLE}</style></head><body>",
    ]
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{_inline(h)}</th>" for h in b.header)
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in b.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            data = base64.b64encode((out / b.path).read_bytes()).decode("ascii")
            parts.append(
                f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(b.caption)}'>"
                f"<figcaption>{html.escape(b.caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Markdown's `code` and **bold** as HTML, everything else escaped."""
    escaped = html.escape(text)
    pieces = escaped.split("`")
    escaped = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))
    pieces = escaped.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(pieces))


def _pm(row: Row | None) -> str:
    if row is None or math.isnan(row.value):
        return "–"
    if math.isnan(row.se):
        return f"{row.value:.4f}"
    return f"{row.value:.4f} ± {row.se:.4f}"


def _clean(record: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
