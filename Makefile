# One-command setup and runs. Everything installs into .venv; Tesseract and
# libmagic come from Debian packages (installed when missing and we are root).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO := out/demo
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd libmagic1
export OMP_THREAD_LIMIT ?= 1

.PHONY: install system-deps browser demo test bench bench-scale lint lock clean

install: $(STAMP)

system-deps:
	@missing=""; \
	command -v tesseract >/dev/null 2>&1 || missing="yes"; \
	tesseract --list-langs 2>/dev/null | grep -qx osd || missing="yes"; \
	ldconfig -p 2>/dev/null | grep -q 'libmagic.so.1 ' || missing="yes"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq $(APT_PACKAGES); \
	  else \
	    echo "Tesseract (with eng and osd data) or libmagic is missing and this is not root."; \
	    echo "Install them, then run make again:  sudo apt-get install -y $(APT_PACKAGES)"; \
	    exit 1; \
	  fi; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch goes first and alone, pinned, so that no later step pulls a CUDA build.
$(STAMP): pyproject.toml constraints.txt | $(PY) system-deps
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

PDF_INPUTS := --input '$(DEMO)/corpus/pdf/**/*.pdf' --input '$(DEMO)/corpus/pdf/**/*.tiff' \
	--input '$(DEMO)/corpus/pdf/**/*.png'

demo: install
	$(PY) -m demo_corpus --output $(DEMO)/corpus --seed 0
	$(PY) -m pipelines.pdf_transcribe --output $(DEMO)/transcripts --render-pages $(PDF_INPUTS)
	$(PY) -m pipelines.docmatix_qa --llm offline --output $(DEMO)/docmatix \
	  --input '$(DEMO)/transcripts/shards/*.tar'
	$(PY) -m pipelines.web_docs --images warc --output $(DEMO)/web \
	  --input '$(DEMO)/corpus/web/warc/*.warc.gz' --input '$(DEMO)/corpus/web/warc/bad/*.warc.gz'
	for subset in cord_v2 lnqa sharegpt4o iiw400 geo170k; do \
	  $(PY) -m pipelines.cauldron_subset --subset $$subset --output $(DEMO)/cauldron \
	    --input $(DEMO)/corpus/cauldron/$$subset \
	    --decontaminate-against $(DEMO)/corpus/cauldron/benchmark_images || exit 1; \
	done
	$(PY) -m pipelines.cauldron_subset --subset docmatix --output $(DEMO)/cauldron \
	  --input $(DEMO)/docmatix/data --decontaminate-against $(DEMO)/corpus/cauldron/benchmark_images
	$(PY) -m cauldron.validate $(DEMO)/cauldron
	$(PY) -m pipelines.pack_files --output $(DEMO)/packed_pdfs $(PDF_INPUTS)
	@echo
	@echo "demo corpus:     $(DEMO)/corpus (index: $(DEMO)/corpus/corpus.json)"
	@for run in transcripts docmatix web cauldron/cord_v2 packed_pdfs; do \
	  echo "$$run:"; \
	  echo "  outputs:       $(DEMO)/$$run/shards"; \
	  echo "  manifest:      $(DEMO)/$$run/manifest.json"; \
	  echo "  report:        $(DEMO)/$$run/report.html"; \
	done
	@echo
	@echo "report: $(DEMO)/transcripts/report.html"

# The run-report tests open report.html in headless Chromium (Debian's package).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq chromium; \
	  else \
	    echo "Chromium is missing and this is not root: sudo apt-get install -y chromium"; \
	    exit 1; \
	  fi; \
	fi

test: install browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

bench: install
	$(PY) -m benchmarks

# The real pipelines on N and 4N generated inputs: wall time and peak memory (docs/scaling.md).
bench-scale: install
	$(PY) -m benchmarks.scale

lint: install
	$(PY) -m ruff check .

lock: install
	{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable \
	  | sed 's/^torch==\(.*\)+cpu/torch==\1/'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf out .pytest_cache .ruff_cache
