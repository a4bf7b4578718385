"""PDFs and page images -> page transcriptions in the PDFA / OCR-IDL layout.

Text layer (PyMuPDF), layout (PyMuPDF's layout engine: blocks, reading order,
page headers and footers, tables, a Markdown view), Tesseract OCR for pages
without a usable text layer, and the PDFA page json. Plain Python, no Beam;
Docmatix QA is one reader of what this package writes.
"""

import os

# PyMuPDF's layout engine loads ONNX Runtime, whose Linux build keeps usage telemetry (a
# session file in the temp folder, a database under ~/.cache). A data pipeline sends none.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
