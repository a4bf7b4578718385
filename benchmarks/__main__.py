"""Run every benchmark and print one table (also written to out/bench.json)."""

import json
from pathlib import Path

from benchmarks import (
    decontaminate,
    llm_client,
    loader_packing,
    loader_tiles,
    page_suite,
    pdf_transcribe,
    qa_text,
    shards,
    vlm_client,
    web_extract,
    web_quality,
)

BENCHMARKS = (
    shards,
    decontaminate,
    qa_text,
    llm_client,
    vlm_client,
    web_extract,
    loader_tiles,
    loader_packing,
    pdf_transcribe,
)


def main() -> None:
    rows = [r for bench in BENCHMARKS for r in bench.run()]
    width = max(len(r["benchmark"]) for r in rows)
    print(f"{'benchmark':<{width}}  {'items':>7}  {'ours/s':>10}  {'bare/s':>10}  ratio  bare")
    for r in rows:
        bare = "-" if r["bare_per_s"] is None else r["bare_per_s"]
        ratio = "-" if r["ratio_ours_to_bare"] is None else r["ratio_ours_to_bare"]
        print(
            f"{r['benchmark']:<{width}}  {r['items']:>7}  {r['ours_per_s']:>10}  "
            f"{bare:>10}  {ratio:>5}  {r['bare']}"
        )
    print("\npage suite (present / absent / order / table neighbours, per page):")
    suite = page_suite.main()
    print("\nweb main text on saved real pages (ours as web_docs keeps it, bare trafilatura):")
    quality = web_quality.run()
    out = Path("out/bench.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"throughput": rows, "page_suite": suite, "web_quality": quality}
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
