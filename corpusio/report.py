"""A short human-readable report of a run, from its manifest: the funnel per stage."""

import re


def stage_order(manifest: dict) -> list[str]:
    """Stages in data-flow order (as the links name them), then any others by name."""
    order = []
    for link in manifest.get("links", []):
        terms = [term for side in link for term in re.split(r"[+-]", side) if term]
        order += [n for n in (term.split("/")[0] for term in terms) if n not in order]
    return [n for n in order if n in manifest["stages"]] + sorted(
        n for n in manifest["stages"] if n not in order
    )


def render_markdown(manifest: dict) -> str:
    lines = [
        f"# Run report: {manifest['pipeline']}",
        "",
        f"- started: {manifest.get('started', '')}",
        f"- finished: {manifest.get('finished', '')}",
        f"- accounting: {'balanced' if manifest['balanced'] else 'UNBALANCED'}",
        "",
        "## Funnel",
        "",
        "| stage | in | out | rejected | rejected by reason |",
        "|---|---:|---:|---:|---|",
    ]
    stages = manifest["stages"]
    for name in stage_order(manifest):
        counts = stages[name]
        reasons = ", ".join(f"{r}: {n}" for r, n in counts["rejected_by_reason"].items()) or "-"
        lines.append(
            f"| {name} | {counts['in']} | {counts['out']} | {counts['rejected']} | {reasons} |"
        )
    stats = [
        (name, s, v) for name in stage_order(manifest) for s, v in stages[name]["stats"].items()
    ]
    if stats:
        lines += ["", "## Stats", "", "| stage | stat | value |", "|---|---|---:|"]
        lines += [f"| {name} | {stat} | {value} |" for name, stat, value in stats]
    if manifest["problems"]:
        lines += ["", "## Problems", ""] + [f"- {p}" for p in manifest["problems"]]
    if manifest.get("outputs"):
        lines += ["", "## Outputs", ""]
        lines += [f"- {what}: `{where}`" for what, where in manifest["outputs"].items()]
    return "\n".join(lines) + "\n"
