"""Documents to Docmatix-style QA: PDF page transcription (PyMuPDF text layer, Tesseract OCR),
chunking, prompts, LLM backends, QA parsing and filters, dataset rows. Plain Python, no Beam."""

import os

# PyMuPDF's layout engine loads ONNX Runtime, whose Linux build keeps usage telemetry (a
# session file in the temp folder, a database under ~/.cache). A data pipeline sends none.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
