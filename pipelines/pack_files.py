"""Pack raw files (PDFs, page images, anything) into WebDataset shards keyed by content.

    python -m pipelines.pack_files --input 'DIR/**/*.pdf' --output OUT [beam options]

Writes OUT/shards/*.tar + _info.json (one sample per distinct file: `<key>.<ext>`
with the bytes and `<key>.json` with the source path, size and sha256),
OUT/rejects-*.jsonl, OUT/manifest.json and OUT/report.md.
"""

import apache_beam as beam

from corpusio.packing import file_sample
from pipelines.files import join
from pipelines.job import cli_main, run_job
from pipelines.options import file_pipeline_parser, parse_pipeline_args, pipeline_options
from pipelines.outputs import shard_files
from pipelines.resume import resume_options
from pipelines.sinks import WriteRejects, WriteShards
from pipelines.sources import ReadFiles, check_patterns, with_bytes
from pipelines.stage import Stage


def parse_args(argv):
    parser = file_pipeline_parser("pipelines.pack_files", __doc__, "file", "files")
    return parse_pipeline_args(parser, argv)


def run(argv=None, save_main_session=True) -> dict:
    args, beam_args = parse_args(argv)
    patterns = check_patterns(args.input)
    shards_dir = join(args.output, "shards")
    resume = resume_options(args)  # packing is cheap: a rerun packs everything again

    def build(p):
        files, read_rejects = p | "ReadFiles" >> ReadFiles(patterns, args.max_file_bytes)
        samples, pack_rejects = files | "Pack" >> Stage(
            "pack",
            with_bytes(file_sample),
            id_of=lambda f: f.path,
            stats=lambda s: {"bytes": sum(len(d) for d in s.members.values())},
        )
        shard_rejects = samples | "WriteShards" >> WriteShards(
            shards_dir,
            args.shard_prefix,
            args.shard_max_samples,
            args.shard_max_bytes,
            spill=resume.spill("shards"),
        )
        _ = (
            (read_rejects, pack_rejects, shard_rejects)
            | "AllRejects" >> beam.Flatten()
            | "WriteRejects" >> WriteRejects(args.output)
        )

    return run_job(
        "pack_files",
        argv,
        pipeline_options(beam_args, save_main_session),
        build,
        args.output,
        links=[("read", "pack"), ("pack", "shards")],
        outputs={"shards": shards_dir, "rejects": join(args.output, "rejects-*.jsonl")},
        resume=resume,
        owned=shard_files("shards", args.shard_prefix),
    )


if __name__ == "__main__":
    cli_main(run)
