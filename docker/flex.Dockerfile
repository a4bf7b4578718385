# Flex Template image for one pipeline: a worker image (cpu or gpu) plus Dataflow's Python
# launcher, so that the job is built with the same code and packages that run it.
# Build from the repository root, once per pipeline: docs/dataflow.md.
ARG WORKER_IMAGE
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base AS launcher

FROM ${WORKER_IMAGE}
ARG PIPELINE
COPY --from=launcher /opt/google/dataflow/python_template_launcher \
    /opt/google/dataflow/python_template_launcher
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/vlm-corpus/pipelines/${PIPELINE}.py
# Flex Template launches must return once the job is submitted (as --no-wait does).
ENV VLM_CORPUS_NO_WAIT=1
