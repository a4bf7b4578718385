"""The layout rule that keeps the project testable: Beam stays at the edge."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLAIN_PACKAGES = [
    "corpusio",
    "llm",
    "demo_corpus",
    "transcription",
    "docmatix",
    "obelics_filter",
    "cauldron",
    "loader",
    "runreport",
]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PLAIN_PACKAGES)
def test_domain_packages_do_not_import_beam(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    offenders = [str(f.relative_to(ROOT)) for f in files if "apache_beam" in _imports(f)]
    assert offenders == []


def test_every_pipeline_module_has_run_and_a_main_guard():
    skip = {
        "__init__",
        "options",
        "stage",
        "sinks",
        "sources",
        "job",
        "files",
        "resume",
        "parts",
        "records",
        "outputs",
        "boundaries",
        "warcs",
        "beam_vllm",
    }
    modules = [p for p in (ROOT / "pipelines").glob("*.py") if p.stem not in skip]
    assert modules
    for path in modules:
        text = path.read_text()
        assert "\ndef run(argv=None" in text, path.name
        assert 'if __name__ == "__main__":' in text, path.name
