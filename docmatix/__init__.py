"""Page transcriptions to Docmatix-style QA: chunking, prompts, LLM backends, QA parsing and
filters, dataset rows. Plain Python, no Beam. Transcription itself is the `transcription`
package."""

import os

# docmatix renders pages through PyMuPDF, which loads ONNX Runtime: no telemetry either.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
