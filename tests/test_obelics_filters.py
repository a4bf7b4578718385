"""OBELICS node- and document-level filters: config loading, each rule, the demo pages."""

import json
import os
import pickle
import subprocess
import sys
from itertools import zip_longest
from pathlib import Path
from urllib.parse import urljoin

import pytest

from corpusio.images import ImageData
from demo_corpus import web
from obelics_filter import langid
from obelics_filter.config import ConfigError, default_settings, load_config
from obelics_filter.filters import (
    check_document,
    check_image,
    check_language,
    check_paragraph,
    filter_document,
    filter_nodes,
    paragraphs_of,
    words_of,
)
from obelics_filter.records import ImageNode, TextNode

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).resolve().parent / "netguard"

GOOD = (
    "The best time to walk the harbour wall is early on a cold morning, before the cafes "
    "open and while the water is still flat. We set off from the old customs house just "
    "after seven, with the tide on the turn."
)


@pytest.fixture(scope="module")
def config():
    return load_config()


def _yaml(tmp_path, text, name="filters.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- demo pages, built from the generator's own texts and image specs -------------


def _page(role):
    return next(p for p in web.pages() if p.role == role)


def _spam_texts():
    heading = "CHEAP WATCHES!!! BUY CHEAP WATCHES ONLINE $$$"
    return [heading, *[web.SPAM_CHUNK * 3] * 4, web.SPAM_KEYWORDS]


def _image(page, spec):
    url = urljoin(page.url, spec.ref)
    return ImageNode(url), ImageData(url, b"", spec.width, spec.height, spec.fmt)


def _article_document():
    page = _page("article")
    nodes, images = [TextNode(web.ARTICLE_TITLE)], {}
    for spec, paragraph in zip_longest(page.images, web.ARTICLE_PARAGRAPHS):
        if spec is not None:
            node, data = _image(page, spec)
            nodes.append(node)
            images[node.src] = data
        if paragraph is not None:
            nodes.append(TextNode(paragraph))
    nodes.append(TextNode(web.ARTICLE_UPDATE))
    return nodes, images


# --- config -----------------------------------------------------------------------


def test_defaults_are_obelics_values(config):
    p, d, i = config.paragraph, config.document, config.image
    assert (p["words"].min, p["words"].max) == (4, 1000)
    assert (p["char_repetition"].n, p["char_repetition"].max) == (10, 0.1)
    assert (p["word_repetition"].n, p["word_repetition"].max) == (5, 0.1)
    assert p["special_characters"].max == 0.3 and p["stopwords"].min == 0.3
    assert p["flagged_words"].max == 0.01
    assert (p["punctuation"].min, p["punctuation"].min_words) == (0.001, 12)
    assert not p["common_words"].enabled and not d["common_words"].enabled
    assert (d["images"].min, d["images"].max) == (1, 30)
    assert (d["words"].min, d["words"].max) == (10, 2000)
    assert d["word_repetition"].max == 0.2 and d["special_characters"].max == 0.275
    assert d["stopwords"].min == 0.35 and d["punctuation"].min == 0.03
    assert d["language"].allowed == ("en",) and d["language"].min == 0.8
    assert "perplexity" not in d
    assert i["format"].allowed == ("jpg", "jpeg", "png", "webp")
    assert (i["size"].min, i["size"].max) == (150, 20000)
    assert (i["aspect_ratio"].min, i["aspect_ratio"].max) == (0.5, 2.0)
    assert {"logo", "button", "icon", "plugin", "widget"} <= i["url_ban_words"].words
    assert {"the", "and", "of"} <= p["stopwords"].words
    assert all(r.enabled for s in (p, d, i) for k, r in s.items() if k != "common_words")


def test_config_pickles_for_worker_processes(config):
    again = pickle.loads(pickle.dumps(config))
    assert again.paragraph == config.paragraph and again.settings == config.settings


def test_user_yaml_changes_decisions(tmp_path, config):
    five_words = "We walked along the quay."
    assert check_paragraph(five_words, config) is None
    icon = ImageNode("https://example.com/static/icons/share-icon.png")
    icon_data = ImageData(icon.src, b"", 24, 24, "png")
    assert check_image(icon, icon_data, config) == "image_url_banned"

    user = load_config(
        _yaml(
            tmp_path,
            "paragraph:\n  words: {min: 6}\n"
            "image:\n  url_ban_words: {enabled: false}\n  size: {min: 10}\n",
        )
    )
    assert check_paragraph(five_words, user) == "paragraph_too_short"
    assert check_image(icon, icon_data, user) is None
    assert user.paragraph["words"].max == 1000  # keys not given keep their defaults
    no_ban = load_config(overrides={"image": {"url_ban_words": {"enabled": False}}})
    assert check_image(icon, icon_data, no_ban) == "image_too_small"


def test_empty_user_yaml_keeps_defaults(tmp_path):
    assert load_config(_yaml(tmp_path, "")).settings == default_settings()


@pytest.mark.parametrize(
    "text, message",
    [
        ("images: {}", "unknown section 'images'"),
        ("paragraph:\n  char_repetiton: {max: 0.2}", "unknown rule 'paragraph.char_repetiton'"),
        ("paragraph:\n  words: {minimum: 3}", "unknown key 'paragraph.words.minimum'"),
        ("document:\n  perplexity: {max: 1500}", "KenLM perplexity is not available"),
        (
            "paragraph:\n  words: {enabled: 'yes'}",
            "paragraph.words.enabled: expected true or false",
        ),
        ("paragraph:\n  words: {min: 4.5}", "paragraph.words.min: expected an integer"),
        ("paragraph:\n  stopwords: {min: high}", "paragraph.stopwords.min: expected a number"),
        ("paragraph:\n  stopwords: {min: 30}", "ratio and must be at most 1"),
        ("image:\n  size: {min: -1}", "must not be negative"),
        ("image:\n  aspect_ratio: {min: 3}", "min (3) is greater than max (2.0)"),
        ("image:\n  format: {allowed: jpg}", "expected a list of non-empty strings"),
        ("paragraph:\n  word_repetition: {n: 0}", "n must be at least 1"),
        ("document:\n  common_words: {enabled: true}", "has no word list"),
        ("paragraph:\n  stopwords: {list: nowhere.txt}", "neither a file nor a packaged list"),
        ("- just a list", "must be a mapping of sections"),
        ("paragraph: [words]", "paragraph must be a mapping"),
        ("paragraph: {words: {min: [}", "not valid YAML"),
    ],
)
def test_bad_user_config_is_refused_with_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(_yaml(tmp_path, text))


def test_missing_user_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read filter config"):
        load_config(tmp_path / "absent.yaml")


def test_user_word_list_next_to_the_yaml(tmp_path):
    (tmp_path / "common.txt").write_text("# most frequent words\nthe\nharbour\nwall\n")
    yaml_text = "paragraph:\n  common_words: {enabled: true, min: 0.5, list: common.txt}\n"
    user = load_config(_yaml(tmp_path, yaml_text))
    assert user.paragraph["common_words"].words == {"the", "harbour", "wall"}
    assert check_paragraph(GOOD, user) == "paragraph_common_words"


# --- paragraphs -------------------------------------------------------------------

PARAGRAPH_CASES = [
    ("good", GOOD, None, None),
    ("too_short", "Walk the wall.", None, "paragraph_too_short"),
    ("too_long", (GOOD + " ") * 30, None, "paragraph_too_long"),
    (
        "char_repetition",
        "Sale sale sale! Sale sale sale! Sale sale sale! Sale sale sale! Everything must go.",
        None,
        "paragraph_char_repetition",
    ),
    (
        "word_repetition",
        # long enough that a repeated sentence stays under the char 10-gram limit
        " ".join([GOOD, web.LAZY_PARAGRAPHS[2], web.LAZY_PARAGRAPHS[3], GOOD]),
        None,
        "paragraph_word_repetition",
    ),
    (
        "special_characters",
        "Open 09:00-17:30 & 18:00-22:15 daily; call 555-0100 / 555-0199 (ext. 42) or text "
        "us on 07700-900123.",
        None,
        "paragraph_special_characters",
    ),
    (
        "stopwords",
        "Quarterly revenue exceeded analyst expectations despite currency headwinds.",
        None,
        "paragraph_stopwords",
    ),
    (
        "flagged_words",
        GOOD + " The site next door sells porn.",
        None,
        "paragraph_flagged_words",
    ),
    (
        "punctuation",
        "we walked along the river and then we sat down by the old bridge for a while",
        None,
        "paragraph_punctuation",
    ),
    (
        "punctuation_not_checked_below_min_words",
        "we walked along the river and then sat by the bridge",
        None,
        None,
    ),
    (
        "common_words",
        GOOD,
        {"common_words": {"enabled": True, "list": "stopwords_en.txt"}},
        "paragraph_common_words",
    ),
]


@pytest.mark.parametrize(
    "text, overrides, expected",
    [case[1:] for case in PARAGRAPH_CASES],
    ids=[case[0] for case in PARAGRAPH_CASES],
)
def test_paragraph_rules(config, text, overrides, expected):
    if overrides:
        config = load_config(overrides={"paragraph": overrides})
    assert check_paragraph(text, config) == expected


def test_every_paragraph_rule_has_a_case(config):
    fired = {case[3] for case in PARAGRAPH_CASES if case[3]}
    reasons = {"words": {"paragraph_too_short", "paragraph_too_long"}}
    for name in config.paragraph:
        assert reasons.get(name, {f"paragraph_{name}"}) <= fired, name


def test_a_disabled_rule_does_not_fire():
    config = load_config(overrides={"paragraph": {"stopwords": {"enabled": False}}})
    assert check_paragraph(PARAGRAPH_CASES[6][1], config) is None


def test_words_strip_punctuation_symbols_and_digits():
    assert words_of("“Hello,” she said — 42 times… don’t ★★★ (yes)!") == [
        "hello",
        "she",
        "said",
        "times",
        "don't",
        "yes",
    ]


# --- images -----------------------------------------------------------------------


def test_demo_images_drop_for_url_words_and_aspect_ratio(config):
    expected = {"url_pattern": "image_url_banned", "aspect_ratio": "image_aspect_ratio"}
    seen = set()
    for page in web.pages():
        for spec in page.images:
            node, data = _image(page, spec)
            reason = check_image(node, data, config)
            if spec.expect == "keep":
                assert reason is None, (node.src, reason)
            for demo_reason, ours in expected.items():
                if spec.reasons and spec.reasons[0] == demo_reason:
                    assert reason == ours, (node.src, reason)
                    seen.add(demo_reason)
    assert seen == set(expected)


@pytest.mark.parametrize(
    "node, data, expected",
    [
        (
            ImageNode("https://a.example/p.jpg"),
            ImageData("", b"", 100, 120, "jpeg"),
            "image_too_small",
        ),
        (
            ImageNode("https://a.example/p.jpg"),
            ImageData("", b"", 30000, 20000, "jpeg"),
            "image_too_large",
        ),
        (ImageNode("https://a.example/p.jpg"), ImageData("", b"", 640, 480, "jpeg"), None),
        (
            ImageNode("https://a.example/p.jpg"),
            ImageData("", b"", 320, 800, "jpeg"),
            "image_aspect_ratio",
        ),
        (ImageNode("https://a.example/p.jpg", "", 900, 120), None, "image_aspect_ratio"),
        (ImageNode("https://a.example/p.jpg", "", 100, 100), None, "image_too_small"),
        (ImageNode("https://a.example/p.jpg", "", 640), None, None),
        (ImageNode("https://a.example/p.jpg", "", 100), None, "image_too_small"),
        (ImageNode("https://a.example/p.jpg"), None, None),
        # the decoded size wins over what the HTML asked for
        (
            ImageNode("https://a.example/p.jpg", "", 100, 100),
            ImageData("", b"", 640, 480, "jpeg"),
            None,
        ),
        (
            ImageNode("https://a.example/p.jpg", "", 640, 480),
            ImageData("", b"", 64, 48, "jpeg"),
            "image_too_small",
        ),
        (ImageNode("https://a.example/anim"), ImageData("", b"", 640, 480, "gif"), "image_format"),
        (ImageNode("https://a.example/blank.gif"), None, "image_format"),
        (ImageNode("https://a.example/chart.svg?v=2"), None, "image_format"),
        (ImageNode("data:image/gif;base64,R0lGODlh"), None, "image_format"),
        (
            ImageNode("data:image/png;base64,bG9nb2xvZ28="),
            ImageData("", b"", 640, 480, "png"),
            None,
        ),
        (ImageNode("data:image/png;base64,xLOGOx"), ImageData("", b"", 640, 480, "png"), None),
        (ImageNode("https://a.example/Widgets/w.jpg"), None, "image_url_banned"),
        (ImageNode("https://a.example/img/BUTTON-buy.png"), None, "image_url_banned"),
        (ImageNode("https://a.example/wp-content/plugins/x/photo.jpg"), None, "image_url_banned"),
    ],
)
def test_image_rules(config, node, data, expected):
    assert check_image(node, data, config) == expected


# --- documents --------------------------------------------------------------------


def test_article_passes_and_its_bad_images_leave(config):
    nodes, images = _article_document()
    result = filter_document(nodes, images, config)
    assert result.reason is None
    dropped = {n.src.rsplit("/", 1)[1]: r for n, r in result.dropped if isinstance(n, ImageNode)}
    assert dropped == {
        "garden-centre-wide.jpg": "image_aspect_ratio",
        "share-icon.png": "image_url_banned",
        "riverside-gazette-logo.png": "image_url_banned",
    }
    assert not [r for n, r in result.dropped if isinstance(n, TextNode)]
    kept_images = [n for n in result.nodes if isinstance(n, ImageNode)]
    assert len(kept_images) == 3
    texts = [n.text for n in result.nodes if isinstance(n, TextNode)]
    assert check_document(texts, len(kept_images), config) is None


def test_spam_page_drops_for_repetition_or_special_characters(config):
    texts = _spam_texts()
    spammy = {"doc_char_repetition", "doc_word_repetition", "doc_special_characters"}
    assert check_document(texts, 1, config) in spammy
    _, dropped = filter_nodes([TextNode("\n\n".join(texts))], {}, config)
    assert len(dropped) == len(texts)
    assert {r for _, r in dropped} <= {
        "paragraph_char_repetition",
        "paragraph_word_repetition",
        "paragraph_special_characters",
    }
    nodes = [TextNode(t) for t in texts] + [ImageNode("https://w.example/img/watch-deal.jpg")]
    assert filter_document(nodes, {}, config).reason in spammy


def test_french_page_drops_for_language(config):
    texts = [web.FRENCH_TITLE, *web.FRENCH_PARAGRAPHS]
    assert check_document(texts, 1, config) == "doc_language"
    assert check_language(texts, config) == "doc_language"
    page = _page("non_english")
    image, data = _image(page, page.images[0])
    nodes = [TextNode(t) for t in texts] + [image]
    result = filter_document(nodes, {image.src: data}, config)
    assert result.reason == "doc_language"
    english = load_config(overrides={"document": {"language": {"allowed": ["en", "fr"]}}})
    assert check_document(texts, 1, english) == "doc_stopwords"


@pytest.mark.parametrize(
    "texts, n_images, expected",
    [
        (["Walk the harbour wall."], 1, "doc_too_few_words"),
        ([GOOD], 0, "doc_too_few_images"),
        ([GOOD], 31, "doc_too_many_images"),
        ([GOOD] * 60, 1, "doc_too_many_words"),
        ([GOOD] * 3, 1, "doc_word_repetition"),
        ([PARAGRAPH_CASES[3][1]], 1, "doc_char_repetition"),
        ([GOOD], 30, None),
        ([GOOD.replace(".", ";").replace(",", ";")] * 1, 1, "doc_punctuation"),
    ],
)
def test_document_rules(config, texts, n_images, expected):
    assert check_document(texts, n_images, config) == expected


def test_text_nodes_are_judged_paragraph_by_paragraph(config):
    spam = web.SPAM_CHUNK * 3
    node = TextNode(f"{GOOD}\n\n{spam}\n \n{web.LAZY_PARAGRAPHS[1]}")
    image = ImageNode("https://a.example/static/logo.png")
    kept, dropped = filter_nodes([node, image, TextNode(GOOD)], None, config)
    assert kept == [TextNode(f"{GOOD}\n\n{web.LAZY_PARAGRAPHS[1]}"), TextNode(GOOD)]
    assert kept[1] is not node
    assert dropped == [
        (TextNode(spam.strip()), "paragraph_char_repetition"),
        (image, "image_url_banned"),
    ]
    assert paragraphs_of("a\n\n\n b \n\t\nc\nd") == ["a", "b", "c\nd"]


# --- language id --------------------------------------------------------------------


def test_langid_uses_the_shipped_model(config):
    assert langid.model_path().name == "lid.176.ftz"
    lang, score = langid.detect(" ".join(web.ARTICLE_PARAGRAPHS))
    assert lang == "en" and score > 0.9
    assert langid.detect("\n".join(web.FRENCH_PARAGRAPHS))[0] == "fr"
    assert langid.detect("  \n ") == ("", 0.0)


def test_filters_run_offline(tmp_path):
    code = (
        "from obelics_filter import langid;"
        "from obelics_filter.config import load_config;"
        "from obelics_filter.filters import check_document;"
        "from demo_corpus import web;"
        "print(langid.detect(web.FRENCH_PARAGRAPHS[0])[0],"
        " check_document(web.ARTICLE_PARAGRAPHS, 1, load_config()))"
    )
    log = tmp_path / "netguard.log"
    env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{ROOT}", NETGUARD_LOG=str(log))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["fr", "None"]
    assert not log.exists() or log.read_text() == ""


def test_settings_are_json_for_manifests(config):
    assert json.loads(json.dumps(config.settings)) == config.settings
