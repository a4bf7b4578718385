"""Fixtures shared by the test suite."""

import os

import pytest

# Tests never reach a hub or spawn threaded Tesseract.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
# Beam's worker processes unpickle functions defined in test modules by name.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_ROOT, os.environ.get("PYTHONPATH", "")) if p
)


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory):
    """The demo corpus, built once per test session with seed 0.

    Returns (root, index) where index is the parsed corpus.json.
    """
    from demo_corpus.build import build

    root = tmp_path_factory.mktemp("demo_corpus")
    index = build(root, seed=0)
    return root, index
