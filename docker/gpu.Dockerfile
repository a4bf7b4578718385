# Dataflow GPU worker image for docmatix_qa --llm beam-vllm (or vllm) on NVIDIA L4 workers.
# Dataflow installs the driver (install-nvidia-driver); torch and vLLM wheels bring CUDA.
# Build from the repository root: docs/dataflow.md.
FROM nvidia/cuda:12.8.1-runtime-ubuntu22.04

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get install -y --no-install-recommends \
        python3.11 python3.11-venv python3.11-dev libmagic1 \
    && rm -rf /var/lib/apt/lists/*
# Python 3.11, as on the machine that launches the job (pickled code must match).
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The worker entrypoint of the same Beam version.
COPY --from=apache/beam_python3.11_sdk:2.77.0 /opt/apache/beam /opt/apache/beam

WORKDIR /opt/vlm-corpus
COPY . .
# One resolve for vLLM (and the CUDA torch it needs), Beam with GCS and this package, at the
# versions of constraints.txt.
RUN pip install --no-cache-dir --upgrade pip \
    && pip install --no-cache-dir -c constraints.txt ".[gpu,gcp]"

ENTRYPOINT ["/opt/apache/beam/boot"]
