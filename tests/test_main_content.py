"""Main-content finding: the article's text with its pictures, without the page around it."""

from pathlib import Path

import pytest

from obelics_filter.extract import extract_nodes, parse_html
from obelics_filter.main_content import main_content
from obelics_filter.records import ImageNode, TextNode

URL = "https://news.example/2024/05/river/"
REAL_HTML = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "web" / "html"
PARAGRAPHS = [
    "The river rose by two metres overnight after three days of heavy rain in the hills, "
    "and the council opened the flood gates at the old mill before dawn on Tuesday.",
    "Residents of the lower town moved furniture upstairs while volunteers filled sandbags "
    "in the market square, where the water reached the steps of the town hall by noon.",
    "Engineers say the new embankment held as designed, and that the water is expected to "
    "fall slowly over the coming week if the forecast for dry weather proves right.",
]


def _text(nodes) -> str:
    return "\n\n".join(n.text for n in nodes if isinstance(n, TextNode))


def _srcs(nodes) -> list[str]:
    return [n.src for n in nodes if isinstance(n, ImageNode)]


def _news_page(article_class: str = "story-body") -> str:
    teasers = "".join(
        f'<li><a href="/2024/05/other-{i}/"><img src="/thumbs/other-{i}.jpg" alt="">'
        f"<span>Another story about the weather number {i} this week</span></a>"
        f"<p>A short summary of the other story.</p></li>"
        for i in range(4)
    )
    comments = "".join(
        f'<div class="comment"><p>Reader {i} says this is a long comment about the flood and '
        f"the way the council handled it, written at some length to weigh a lot.</p></div>"
        for i in range(6)
    )
    return f"""<html><body>
    <div class="site"><a href="/"><img src="/static/logo.png" alt="News"></a>
    <ul class="menu"><li><a href="/a">Home</a></li><li><a href="/b">World</a></li>
    <li><a href="/c">Sport</a></li></ul></div>
    <div class="page">
      <div class="hero"><img src="/media/river-hero.jpg" alt="The river at dawn"></div>
      <div class="article-head"><h1>River rises after three days of rain</h1>
        <p class="standfirst">The council opened the flood gates before dawn, and the lower
        town spent the day moving furniture upstairs as the water kept rising.</p></div>
      <div class="{article_class}">
        <p>{PARAGRAPHS[0]}</p>
        <figure><img src="/media/sandbags.jpg" alt="Sandbags"><figcaption>Volunteers fill
        sandbags in the market square.</figcaption></figure>
        <p>{PARAGRAPHS[1]}</p>
        <div class="share-row"><a href="https://x.example/share">X</a>
        <a href="https://fb.example/share">Facebook</a><a href="mailto:?">Email</a></div>
        <p><a href="/2024/05/older/">READ MORE: Last year's floods in the valley</a></p>
        <p>{PARAGRAPHS[2]}</p>
      </div>
      <div class="related"><h2>More stories</h2><ul>{teasers}</ul></div>
      <div class="comments-area">{comments}</div>
    </div>
    <div class="sidebar"><img src="/ads/banner.jpg" alt=""><p>Subscribe to our newsletter
    for the best stories of the week, every week, in your inbox.</p></div>
    </body></html>"""


def test_article_text_kept_and_furniture_around_it_dropped():
    nodes = extract_nodes(_news_page(), URL)
    text = _text(nodes)
    assert text.startswith("River rises after three days of rain")
    assert "The council opened the flood gates before dawn" in text  # the standfirst
    for paragraph in PARAGRAPHS:
        assert paragraph in text
    assert "Volunteers fill sandbags in the market square." in text
    for furniture in ("Reader 0 says", "Another story", "short summary", "Subscribe", "READ MORE"):
        assert furniture not in text
    assert "Facebook" not in text


def test_images_of_the_article_area_kept_in_order_others_dropped():
    srcs = _srcs(extract_nodes(_news_page(), URL))
    assert srcs == [
        "https://news.example/media/river-hero.jpg",  # above the title, outside the text
        "https://news.example/media/sandbags.jpg",
    ]


def test_article_named_like_furniture_still_found():
    """A furniture word next to a content word (`article-body pagination-first`) is content."""
    nodes = extract_nodes(_news_page("article-body pagination-first"), URL)
    text = _text(nodes)
    for paragraph in PARAGRAPHS:
        assert paragraph in text
    assert "Reader 0 says" not in text


def test_question_above_its_answers_is_kept():
    question = "How do I keep sandbags dry when the river is still rising around the house?"
    answers = "".join(
        f'<div class="answer"><p>Answer {i}: stack them on pallets under a tarpaulin and keep '
        f"them away from the walls, which stay wet for days after the water goes.</p></div>"
        for i in range(5)
    )
    html = f"""<html><body><div id="content"><h1>Keeping sandbags dry</h1>
    <div id="question"><p>{question}</p></div><div id="answers">{answers}</div>
    </div></body></html>"""
    text = _text(extract_nodes(html, URL))
    assert text.index("Keeping sandbags dry") < text.index(question) < text.index("Answer 0")
    assert "Answer 4" in text


def test_sibling_articles_are_other_posts():
    posts = "".join(
        f'<article class="post"><p>Another post number {i} with a long text about gardens, '
        f"seeds and the weather, long enough to count as prose on its own.</p></article>"
        for i in range(3)
    )
    html = f"""<html><body><div class="main"><article class="post"><h1>Apple trees</h1>
    <p>{PARAGRAPHS[0]}</p><p>{PARAGRAPHS[1]}</p><p>{PARAGRAPHS[2]}</p></article>
    {posts}</div></body></html>"""
    found = main_content(parse_html(html).find("body"))
    assert found is not None and found.regions[0].tag == "article"
    text = _text(extract_nodes(html, URL))
    assert PARAGRAPHS[2] in text
    assert "Another post" not in text


def test_short_page_is_read_whole():
    html = "<html><body><div><p>Opening hours: 9 to 5.</p></div><p>Closed on Sunday.</p></body>"
    assert main_content(parse_html(html).find("body")) is None
    text = _text(extract_nodes(html, URL))
    assert "Opening hours" in text and "Closed on Sunday" in text


def test_article_inside_furniture_names_is_never_empty():
    """Every element named like furniture: the fallbacks still give the article's text."""
    html = f"""<html><body><div class="comments"><div class="sidebar">
    <p>{PARAGRAPHS[0]}</p><p>{PARAGRAPHS[1]}</p></div></div></body></html>"""
    text = _text(extract_nodes(html, URL))
    assert PARAGRAPHS[0] in text and PARAGRAPHS[1] in text


def test_many_units_under_one_parent_stay_linear():
    """One teaser check per parent, not per paragraph: 20,000 paragraphs in one body."""
    html = "<html><body>" + f"<p>{PARAGRAPHS[0]}</p>" * 20_000 + "</body></html>"
    nodes = extract_nodes(html, URL)
    assert nodes and _text(nodes).count(PARAGRAPHS[0]) == 20_000


def test_web_quality_measurement_on_real_pages():
    """The bench's measurement, as web_docs keeps pages: at least trafilatura's on every count."""
    from benchmarks import web_quality

    if not web_quality.pages(REAL_HTML):
        pytest.skip("no ../shared/realdata")
    report = web_quality.run(folder=REAL_HTML)
    ours, theirs = report["ours"], report["trafilatura"]
    assert report["pages"] == 30
    assert ours["recall"] >= max(0.93, theirs["recall"])
    assert ours["precision"] >= theirs["precision"]
    assert ours["present"][0] >= theirs["present"][0]
    assert ours["absent"][0] >= theirs["absent"][0]
    assert not ours["empty"]
    assert all(reason.startswith("doc_") for reason in report["excluded"].values())


def test_page_inside_one_form_without_paragraphs_is_read():
    """ASP.NET pages wrap the body in a <form>; text in divs and <br>, no <p>, no h1."""
    lines = "<br>".join(PARAGRAPHS)
    html = f"""<html><body><form id="aspnetForm" action="/page.aspx">
    <div class="header-links"><a href="/">Home</a></div>
    <div id="ctl00_body"><span class="headline">River rises</span><br>{lines}</div>
    </form></body></html>"""
    text = _text(extract_nodes(html, URL))
    assert all(paragraph in text for paragraph in PARAGRAPHS)


def test_the_post_with_the_headline_wins_over_a_heavier_list_of_posts():
    others = "".join(
        f'<article class="post"><p>Another story number {i}, summarised at some length so that '
        f"the list of them weighs more than the page's own short article does.</p></article>"
        for i in range(6)
    )
    html = f"""<html><body><div id="primary">
    <article class="post"><h1>Only those who love</h1><p>{PARAGRAPHS[0]}</p></article>
    <article class="more"><h2>You may also like</h2>{others}</article>
    </div></body></html>"""
    text = _text(extract_nodes(html, URL))
    assert PARAGRAPHS[0] in text and "Another story" not in text


def test_layout_cells_are_containers_and_teaser_blurbs_weigh_nothing():
    blurbs = "".join(
        f'<div class="item"><a href="/news/{i}/">A headline of another story, number {i}</a>'
        f"<div>The blurb under that headline, a sentence long, about something else.</div></div>"
        for i in range(8)
    )
    html = f"""<html><body><table><tr><td class="content">
    <h1>River rises after three days of rain</h1>
    <div class="story">{"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}</div>
    <div class="more">{blurbs}</div></td><td class="side">Weather</td></tr></table>
    </body></html>"""
    found = main_content(parse_html(html).find("body"))
    assert found is not None and any(r.get("class") == "story" for r in found.regions)
    text = _text(extract_nodes(html, URL))
    assert all(p in text for p in PARAGRAPHS)
    assert "The blurb" not in text
