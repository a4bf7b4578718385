"""What the vLLM backend does without vLLM installed: refusals, the install hint, conversions."""

import importlib.util

import pytest

from llm import make_backend
from llm.records import ChatRequest
from llm.vllm_backend import DEFAULT_MODEL, VLLMBackend, to_conversation

needs_no_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here"
)


@pytest.mark.parametrize(
    "model", ["microsoft/Phi-3-small-8k-instruct", "microsoft/Phi-3-small-128k-instruct"]
)
def test_phi3_small_is_refused_with_the_way_out(model):
    with pytest.raises(ValueError) as info:
        VLLMBackend(model)
    message = str(info.value)
    assert "vllm serve microsoft/Phi-3-small-8k-instruct --trust-remote-code" in message
    assert "0.9" in message and "--base-url" in message and "openai backend" in message


@needs_no_vllm
def test_without_vllm_construction_says_how_to_install_it():
    with pytest.raises(ImportError, match=r"pip install -e '\.\[gpu\]'"):
        make_backend("vllm")
    with pytest.raises(ImportError, match="gpu"):
        VLLMBackend(DEFAULT_MODEL, max_model_len=8192)


def test_requests_become_role_content_conversations():
    request = ChatRequest(
        id="d:0",
        messages=(
            {"role": "system", "content": "You read PDFs.", "name": "ignored"},
            {"role": "user", "content": "Text\nNEW PAGE\nMore"},
        ),
        max_tokens=2000,
    )
    assert to_conversation(request) == [
        {"role": "system", "content": "You read PDFs."},
        {"role": "user", "content": "Text\nNEW PAGE\nMore"},
    ]
