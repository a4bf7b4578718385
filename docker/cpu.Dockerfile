# Dataflow worker image for every pipeline on CPUs (pdf_transcribe needs its Tesseract).
# Build from the repository root: docs/dataflow.md.
FROM apache/beam_python3.11_sdk:2.77.0

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd libmagic1 \
    && rm -rf /var/lib/apt/lists/*

# torch first and alone, from the CPU index, so that nothing pulls a CUDA build (as `make` does).
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /opt/vlm-corpus
COPY . .
RUN pip install --no-cache-dir -c constraints.txt .
# ENTRYPOINT stays the SDK image's /opt/apache/beam/boot.
