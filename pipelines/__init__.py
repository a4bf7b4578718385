"""Beam graphs: one module per pipeline, each with `run(argv)` and a `--help`.

The shared pieces are here too: local runner options (options), the counted
stage wrapper that turns domain functions into DoFns with a rejects output
(stage), sources and sinks (sources, sinks) and the job runner that writes the
manifest and checks the accounting (job). Domain logic lives in the plain
Python packages; nothing here decides what a document is.
"""
