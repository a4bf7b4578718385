"""A short human-readable report of a run, from its manifest: the funnel per stage."""


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
    for name, counts in manifest["stages"].items():
        reasons = ", ".join(f"{r}: {n}" for r, n in counts["rejected_by_reason"].items()) or "-"
        lines.append(
            f"| {name} | {counts['in']} | {counts['out']} | {counts['rejected']} | {reasons} |"
        )
    stats = [(name, s, v) for name, c in manifest["stages"].items() for s, v in c["stats"].items()]
    if stats:
        lines += ["", "## Stats", "", "| stage | stat | value |", "|---|---|---:|"]
        lines += [f"| {name} | {stat} | {value} |" for name, stat, value in stats]
    if manifest["problems"]:
        lines += ["", "## Problems", ""] + [f"- {p}" for p in manifest["problems"]]
    if manifest.get("outputs"):
        lines += ["", "## Outputs", ""]
        lines += [f"- {what}: `{where}`" for what, where in manifest["outputs"].items()]
    return "\n".join(lines) + "\n"
