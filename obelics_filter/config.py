"""Filter thresholds: the packaged OBELICS defaults, optionally overridden by a user YAML.

The defaults file is the schema: a user file may only set keys it has, with
values of the same kind, so a typo fails loudly instead of silently leaving a
default in force.
"""

import copy
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULTS_FILE = "filters.yaml"
WORDLISTS_DIR = "wordlists"
SECTIONS = ("image", "paragraph", "document")

# Rules whose min/max are fractions in [0, 1].
RATIO_RULES = frozenset(
    {
        "char_repetition",
        "word_repetition",
        "special_characters",
        "stopwords",
        "flagged_words",
        "common_words",
        "language",
    }
)
# Rules that need a word list once enabled.
WORDLIST_RULES = frozenset({"stopwords", "flagged_words", "common_words"})
NOT_AVAILABLE = {
    "perplexity": "KenLM perplexity is not available: it needs a downloaded model",
}


class ConfigError(ValueError):
    """A user filter config that cannot be used, naming the offending key."""


@dataclass(frozen=True)
class Rule:
    """One switchable filter with its thresholds; fields a rule does not use stay empty."""

    enabled: bool
    min: float | None = None
    max: float | None = None
    n: int | None = None
    min_words: int | None = None
    allowed: tuple[str, ...] = ()
    words: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FilterConfig:
    """Rules by section and name, plus the merged settings they came from (for manifests)."""

    image: dict[str, Rule]
    paragraph: dict[str, Rule]
    document: dict[str, Rule]
    settings: dict[str, Any]


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> FilterConfig:
    """The defaults, then the user YAML at `path`, then `overrides`, each replacing single keys."""
    defaults = default_settings()
    settings = copy.deepcopy(defaults)
    if path is not None:
        path = Path(path)
        _merge(settings, _read_yaml(path), defaults, path.parent)
    if overrides:
        _merge(settings, overrides, defaults, Path.cwd())
    return _build(settings)


def default_settings() -> dict:
    text = resources.files("obelics_filter").joinpath(DEFAULTS_FILE).read_text("utf-8")
    return yaml.safe_load(text)


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read filter config {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"filter config {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"filter config {path} must be a mapping of sections")
    return data


def _merge(settings: dict, user: dict, defaults: dict, base_dir: Path) -> None:
    """Copy the user's values into settings, rejecting keys and kinds the defaults lack."""
    if not isinstance(user, dict):
        raise ConfigError("filter config must be a mapping of sections")
    for section, rules in user.items():
        _known(section, defaults, "section", "")
        _mapping(rules, section)
        for name, params in rules.items():
            where = f"{section}.{name}"
            if name in NOT_AVAILABLE:
                raise ConfigError(f"{where}: {NOT_AVAILABLE[name]}")
            _known(name, defaults[section], "rule", f"{section}.")
            _mapping(params, where)
            for key, value in params.items():
                _known(key, defaults[section][name], "key", f"{where}.")
                default = defaults[section][name][key]
                value = _checked_kind(f"{where}.{key}", value, default)
                if key == "list" and value is not None:
                    value = _resolve_list(value, base_dir)
                settings[section][name][key] = value


def _known(key, options: dict, what: str, prefix: str) -> None:
    if key not in options:
        known = ", ".join(str(k) for k in options)
        raise ConfigError(f"unknown {what} '{prefix}{key}' (known: {known})")


def _mapping(value, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}")


def _checked_kind(where: str, value, default):
    """The value if it has the default's kind (ints pass where floats are expected)."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
    else:
        ok = value is None or isinstance(value, str) and value.strip() != ""
    if not ok:
        raise ConfigError(f"{where}: expected {_kind_name(default)}, got {value!r}")
    return value


def _kind_name(default) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, list):
        return "a list of non-empty strings"
    return "a file name or null"


def _resolve_list(value: str, base_dir: Path) -> str:
    """A user's word list path, made absolute when it names a file next to their YAML."""
    candidate = base_dir / value
    return str(candidate.resolve()) if candidate.is_file() else value


def _build(settings: dict) -> FilterConfig:
    sections = {
        section: {name: _rule(f"{section}.{name}", name, params) for name, params in rules.items()}
        for section, rules in settings.items()
    }
    return FilterConfig(**sections, settings=settings)


def _rule(where: str, name: str, params: dict) -> Rule:
    lo, hi = params.get("min"), params.get("max")
    _check_bounds(where, name, lo, hi)
    n, min_words = params.get("n"), params.get("min_words")
    if n is not None and n < 1:
        raise ConfigError(f"{where}.n must be at least 1, got {n}")
    if min_words is not None and min_words < 0:
        raise ConfigError(f"{where}.min_words must not be negative, got {min_words}")
    return Rule(
        enabled=params["enabled"],
        min=lo,
        max=hi,
        n=n,
        min_words=min_words,
        allowed=tuple(v.strip().lower() for v in params.get("allowed", ())),
        words=_rule_words(where, name, params),
    )


def _check_bounds(where: str, name: str, lo, hi) -> None:
    for key, value in (("min", lo), ("max", hi)):
        if value is None:
            continue
        if value < 0:
            raise ConfigError(f"{where}.{key} must not be negative, got {value}")
        if name in RATIO_RULES and value > 1:
            raise ConfigError(f"{where}.{key} is a ratio and must be at most 1, got {value}")
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"{where}: min ({lo}) is greater than max ({hi})")


def _rule_words(where: str, name: str, params: dict) -> frozenset[str]:
    words = {normalise_word(w) for w in params.get("words", ())}
    source = params.get("list")
    if source is not None:
        words |= read_word_list(source)
    elif name in WORDLIST_RULES and params["enabled"]:
        raise ConfigError(f"{where} is enabled but has no word list: set {where}.list")
    return frozenset(words)


def normalise_word(word: str) -> str:
    """Lower case with a plain apostrophe, the form the filters compare words in."""
    return word.strip().lower().replace("\u2019", "'")


@lru_cache(maxsize=32)
def read_word_list(source: str) -> frozenset[str]:
    """Words of a user file (an absolute path) or of a packaged list, by name."""
    path = Path(source)
    if path.is_absolute():
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read word list {path}: {exc}") from exc
    else:
        packaged = resources.files("obelics_filter").joinpath(WORDLISTS_DIR, source)
        if not packaged.is_file():
            raise ConfigError(f"word list '{source}' is neither a file nor a packaged list")
        text = packaged.read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(normalise_word(line) for line in lines if line and not line.startswith("#"))
