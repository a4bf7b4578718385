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


def _measurements(infos) -> tuple[dict, dict]:
    """({pcollection id: elements}, {pcollection id: (sampled, sampled bytes, largest)}).

    The stage that makes a PCollection and each stage that reads it report it;
    each report covers every element, so the largest one is kept, not their sum.
    """
    elements: dict[str, int] = {}
    sizes: dict[str, tuple[int, int, int]] = {}
    for info in infos:
        pcoll = info.labels.get(monitoring_infos.PCOLLECTION_LABEL)
        if pcoll is None:
            continue
        if info.urn == monitoring_infos.ELEMENT_COUNT_URN:
            count = monitoring_infos.extract_counter_value(info)
            elements[pcoll] = max(elements.get(pcoll, 0), count)
        elif info.urn == monitoring_infos.SAMPLED_BYTE_SIZE_URN:
            count, total, _, largest = monitoring_infos.extract_distribution(info)
            sizes[pcoll] = max(sizes.get(pcoll, (0, 0, 0)), (count, total, largest))
    return elements, sizes


def boundary_sizes(pipeline_proto, infos) -> list[dict]:
    """Per crossing PCollection: its name, elements, mean and largest sampled element, and
    its estimated total bytes (mean times elements)."""
    elements, sizes = _measurements(infos)
    rows = []
    for pcoll, name in sorted(crossing_pcollections(pipeline_proto).items(), key=lambda kv: kv[1]):
        sampled, total, largest = sizes.get(pcoll, (0, 0, 0))
        mean = total / sampled if sampled else 0
        count = elements.get(pcoll, sampled)
        rows.append(
            {
                "pcollection": name,
                "elements": count,
                "mean_bytes": round(mean),
                "max_bytes": largest,
                "total_bytes": round(mean * count),
            }
        )
    return rows
