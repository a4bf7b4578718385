"""Bytes per element at every boundary between fused stages of a local run.

Beam's local runner fuses consecutive steps into stages and keeps every
PCollection that passes from one stage to another in memory (a GroupByKey's
input, a side input, the main input of a step that waits for a side input);
on Dataflow the same PCollections are shuffled. So what crosses a boundary
must be small records, never payloads. This module finds those PCollections
the way the local runner fuses the graph, and reads the sizes its workers
sampled, so a run (and a test) can show what crossed and how big it was.
"""

from apache_beam.metrics import monitoring_infos
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.runners.worker import bundle_processor


def crossing_pcollections(pipeline_proto) -> dict[str, str]:
    """{pcollection id: name} of the PCollections that leave a fused stage for another."""
    _, stages = FnApiRunner().create_stages(pipeline_proto)
    crossing = set()
    for stage in stages:
        for transform in stage.transforms:
            if transform.spec.urn == bundle_processor.DATA_OUTPUT_URN:
                crossing.update(transform.inputs.values())
    producers = {}
    for transform in pipeline_proto.components.transforms.values():
        if transform.subtransforms:
            continue
        for tag, pcoll in transform.outputs.items():
            producers[pcoll] = f"{transform.unique_name}.{tag}"
    return {pcoll: producers.get(pcoll, pcoll) for pcoll in crossing}


def _sampled_sizes(infos) -> dict[str, tuple[int, int, int]]:
    """{pcollection id: (elements, sum of sampled bytes, largest sampled element)}."""
    sizes: dict[str, tuple[int, int, int]] = {}
    for info in infos:
        if info.urn != monitoring_infos.SAMPLED_BYTE_SIZE_URN:
            continue
        pcoll = info.labels.get(monitoring_infos.PCOLLECTION_LABEL)
        if pcoll is None:
            continue
        count, total, _, largest = monitoring_infos.extract_distribution(info)
        old = sizes.get(pcoll, (0, 0, 0))
        sizes[pcoll] = (old[0] + count, old[1] + total, max(old[2], largest))
    return sizes


def boundary_sizes(pipeline_proto, infos) -> list[dict]:
    """Per crossing PCollection: name, sampled elements, mean and largest element in bytes."""
    sizes = _sampled_sizes(infos)
    rows = []
    for pcoll, name in sorted(crossing_pcollections(pipeline_proto).items(), key=lambda kv: kv[1]):
        count, total, largest = sizes.get(pcoll, (0, 0, 0))
        rows.append(
            {
                "pcollection": name,
                "sampled": count,
                "mean_bytes": round(total / count) if count else 0,
                "max_bytes": largest,
            }
        )
    return rows
