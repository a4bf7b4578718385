"""Documents to Docmatix-style QA: PDF page transcription (PyMuPDF text layer, Tesseract OCR),
chunking, prompts, LLM backends, QA parsing and filters, dataset rows. Plain Python, no Beam."""
