"""The generation checkpoint: one JSON line per finished chunk, keyed by chunk id.

A rerun reads these lines back and sends to the LLM only the chunks that
have none, so an interrupted run resumes where it stopped and ends with the
same rows. Only successful completions are written: a failed chunk is
retried on the next run.
"""

import json

from llm.records import Completion


def completion_line(completion: Completion) -> str:
    return json.dumps(
        {"id": completion.id, "text": completion.text, "source": completion.source},
        ensure_ascii=False,
        sort_keys=True,
    )


def read_completion_line(line: str) -> Completion | None:
    """The completion on a checkpoint line; None for a torn or foreign line."""
    try:
        record = json.loads(line)
        return Completion(record["id"], record["text"], record["source"])
    except (ValueError, KeyError, TypeError):
        return None
