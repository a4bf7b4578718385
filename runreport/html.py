"""The report page: one HTML file with its CSS inline and its images as data URIs.

It opens from disk with no network: a Content-Security-Policy forbids any
remote load, so a mistake shows up as a blocked request, not a silent fetch.
"""

import base64
import json
import shlex
from dataclasses import dataclass
from datetime import datetime
from html import escape

from corpusio.report import stage_order
from runreport.gallery import Card, Part
from runreport.profiles import Note

_STANDARD_KEYS = {
    "pipeline",
    "argv",
    "started",
    "finished",
    "stages",
    "links",
    "balanced",
    "problems",
    "outputs",
}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529;
  background: #f8f9fa; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 12px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #dee2e6; }
h3 { font-size: 14px; margin: 0 0 4px; word-break: break-all; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e9ecef; text-align: left;
  vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.meta th { background: none; width: 110px; }
pre, code { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
pre { background: #f1f3f5; padding: 8px 10px; border-radius: 4px; white-space: pre-wrap;
  word-break: break-all; margin: 0; }
.ok { color: #2b8a3e; font-weight: 600; }
.bad { color: #c92a2a; font-weight: 600; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e9ecef; border-radius: 4px; }
figcaption { font-size: 12px; color: #495057; }
img.funnel { max-width: 100%; height: auto; }
.note { background: #fff9db; border-left: 4px solid #fab005; padding: 8px 12px; margin: 8px 0;
  border-radius: 2px; word-break: break-word; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 16px; }
.card { border: 1px solid #dee2e6; border-radius: 6px; padding: 12px; overflow: hidden; }
.card .sub { color: #868e96; font-size: 12px; margin-bottom: 8px; word-break: break-all; }
.card img { max-width: 100%; height: auto; display: block; margin: 6px 0;
  border: 1px solid #e9ecef; }
.card p { margin: 6px 0; white-space: pre-wrap; font-size: 13px; overflow-wrap: anywhere; }
.card .url { color: #868e96; font-size: 12px; word-break: break-all; border: 1px dashed #ced4da;
  padding: 6px; margin: 6px 0; }
.turn { margin: 8px 0; overflow-wrap: anywhere; }
.turn .q { font-weight: 600; }
.turn .a { color: #2b8a3e; }
footer { margin-top: 32px; color: #868e96; font-size: 12px; }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class Plot:
    """A plot placed on the page: `png` is embedded, `path` is where its file went."""

    title: str
    png: bytes
    caption: str
    path: str


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _duration(manifest: dict) -> str:
    try:
        start = datetime.fromisoformat(manifest["started"])
        end = datetime.fromisoformat(manifest["finished"])
    except (KeyError, TypeError, ValueError):
        return ""
    seconds = int((end - start).total_seconds())
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _plain(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _note(note: Note) -> str:
    return f'<div class="note"><b>{escape(note.title)}</b>: {escape(note.text)}</div>'


def _summary(manifest: dict) -> str:
    verdict = (
        '<span class="ok">balanced</span>'
        if manifest.get("balanced", False)
        else '<span class="bad">UNBALANCED</span>'
    )
    rows = [
        ("pipeline", escape(manifest.get("pipeline", ""))),
        ("started", escape(manifest.get("started", ""))),
        ("finished", escape(manifest.get("finished", ""))),
        ("duration", escape(_duration(manifest))),
        ("accounting", verdict),
    ]
    extra = sorted(key for key in manifest if key not in _STANDARD_KEYS)
    rows += [(key, escape(_plain(manifest[key]))) for key in extra]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    argv = escape(shlex.join(manifest.get("argv", [])))
    return f'<table class="meta">{body}</table><h2>Command line</h2><pre>{argv}</pre>'


def _counts_table(manifest: dict) -> str:
    stages = manifest["stages"]
    head = (
        "<tr><th>stage</th><th class=n>in</th><th class=n>out</th><th class=n>rejected</th>"
        "<th class=n>kept</th><th class=n>sources</th><th>rejected by reason</th></tr>"
    )
    rows = []
    for name in stage_order(manifest):
        c = stages[name]
        kept = f"{c['out'] / c['in']:.1%}" if c["in"] else "-"
        reasons = ", ".join(f"{r}: {n:,}" for r, n in c["rejected_by_reason"].items()) or "-"
        rows.append(
            f"<tr><td>{escape(name)}</td><td class=n>{c['in']:,}</td><td class=n>{c['out']:,}</td>"
            f"<td class=n>{c['rejected']:,}</td><td class=n>{kept}</td>"
            f"<td class=n>{c.get('sources', '-')}</td><td>{escape(reasons)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _reasons_table(manifest: dict) -> str:
    stages = manifest["stages"]
    found = [
        (n, name, reason)
        for name in stage_order(manifest)
        for reason, n in stages[name]["rejected_by_reason"].items()
    ]
    if not found:
        return "<p>No rejects.</p>"
    found.sort(key=lambda t: (-t[0], t[1], t[2]))
    rows = "".join(
        f"<tr><td>{escape(reason)}</td><td>{escape(name)}</td><td class=n>{n:,}</td>"
        f"<td class=n>{n / stages[name]['in']:.1%}</td></tr>"
        if stages[name]["in"]
        else f"<tr><td>{escape(reason)}</td><td>{escape(name)}</td><td class=n>{n:,}</td>"
        "<td class=n>-</td></tr>"
        for n, name, reason in found
    )
    head = (
        "<tr><th>reason</th><th>stage</th><th class=n>rejected</th>"
        "<th class=n>of stage in</th></tr>"
    )
    return f"<table>{head}{rows}</table>"


def _stats_table(manifest: dict) -> str:
    stages = manifest["stages"]
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(stat)}</td><td class=n>{value:,}</td></tr>"
        for name in stage_order(manifest)
        for stat, value in stages[name]["stats"].items()
    )
    if not rows:
        return ""
    head = "<tr><th>stage</th><th>stat</th><th class=n>value</th></tr>"
    return f"<h2>Stats</h2><table>{head}{rows}</table>"


def _figure(plot: Plot, css_class: str = "") -> str:
    cls = f' class="{css_class}"' if css_class else ""
    return (
        f'<figure><img{cls} src="{data_uri(plot.png)}" alt="{escape(plot.title)}">'
        f"<figcaption>{escape(plot.caption)}</figcaption></figure>"
    )


def _part(part: Part) -> str:
    if part.kind == "image":
        return f'<img src="{part.image}" alt="{escape(part.text)}" title="{escape(part.text)}">'
    if part.kind == "url":
        return f'<div class="url">image not stored: {escape(part.text)}</div>'
    if part.kind == "turn":
        return (
            f'<div class="turn"><div class="q">Q: {escape(part.text)}</div>'
            f'<div class="a">A: {escape(part.answer)}</div></div>'
        )
    if part.kind == "note":
        return f'<div class="note">{escape(part.text)}</div>'
    return f"<p>{escape(part.text)}</p>"


def _card(card: Card) -> str:
    parts = "".join(_part(p) for p in card.parts)
    return (
        f'<div class="card"><h3>{escape(card.title)}</h3>'
        f'<div class="sub">{escape(card.subtitle)}</div>{parts}</div>'
    )


def render(
    manifest: dict,
    funnel: Plot | Note,
    plots: list[Plot | Note],
    gallery: list[Card | Note],
    sampling: str,
) -> str:
    """The whole page as a string (deterministic: no clock, no random ids)."""
    name = escape(manifest.get("pipeline", ""))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Run report: {name}</title><style>{CSS}</style></head><body><main>",
        f"<h1>Run report: {name}</h1>",
        _summary(manifest),
        "<h2>Funnel</h2>",
        _figure(funnel, "funnel") if isinstance(funnel, Plot) else _note(funnel),
        _counts_table(manifest),
        "<h2>Reject reasons</h2>",
        _reasons_table(manifest),
        _stats_table(manifest),
    ]
    if manifest.get("problems"):
        items = "".join(f"<li>{escape(p)}</li>" for p in manifest["problems"])
        out.append(f'<h2 class="bad">Problems</h2><ul>{items}</ul>')
    if plots:
        out += [
            "<h2>Distributions</h2>",
            f"<p>{escape(sampling)}</p>",
            '<div class="plots">',
            *(_figure(p) if isinstance(p, Plot) else _note(p) for p in plots),
            "</div>",
        ]
    if gallery:
        out += [
            "<h2>Samples</h2>",
            '<div class="cards">',
            *(_card(c) if isinstance(c, Card) else _note(c) for c in gallery),
            "</div>",
        ]
    if manifest.get("outputs"):
        items = "".join(
            f"<tr><td>{escape(k)}</td><td><code>{escape(v)}</code></td></tr>"
            for k, v in sorted(manifest["outputs"].items())
        )
        out.append(f"<h2>Outputs</h2><table>{items}</table>")
    out += [f"<footer>{escape(sampling)}</footer>", "</main></body></html>", ""]
    return "\n".join(out)
