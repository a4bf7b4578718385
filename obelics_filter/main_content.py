"""Where a page's article is: the element holding most of its prose, found before reading.

Prose is counted in paragraph-like elements (p, li, td, headings below h1, ...), outside
their links, and outside elements that are furniture by tag or name (sidebars,
comments, related teasers) or that are teasers themselves (a short item around a
headline link to another page). The article is the deepest element that still holds
half the page's prose; siblings holding a tenth of it, long paragraphs and figures next
to it continue it, and the last long h1 before it is its title. Everything else of the
page is read for its images only (see extract), which keeps a lead picture above the
title while navigation lists, teasers, comment threads and author boxes fall away.
"""

from dataclasses import dataclass

from lxml import etree

from obelics_filter.furniture import BOILERPLATE_TOKENS, HEADER_TOKENS, SKIP_TAGS, tokens

UNIT_TAGS = frozenset("p pre blockquote li td dd dt h2 h3 h4 h5 h6 figcaption".split())
CONTAINER_UNITS = frozenset(("td", "li", "dd", "blockquote"))  # units unless they hold blocks
BLOCK_TAGS = ("p", "div", "table", "ul", "ol", "section", "article", "h1", "h2", "h3", "h4")
MIN_UNIT_CHARS = 25  # shorter units are labels, buttons and dates, not prose
MIN_PAGE_PROSE = 200  # with less, no element stands out: the whole page is read
MAIN_SHARE = 0.5  # the main element holds at least this share of the page's prose
SIBLING_SHARE = 0.1  # a sibling holding this share of the prose continues the article
LONG_PARAGRAPH = 80  # a sibling paragraph this long continues the article too
TEASER_CHARS = 600  # an item this short with a headline link is a teaser of another page
HEADLINE_LINK = 20  # characters of link text that make a headline
MIN_TITLE = 10
MAX_DEPTH = 200

WEAK_TAGS = frozenset(("aside", "nav", "footer", "header", "form"))
WEAK_TOKENS = BOILERPLATE_TOKENS | frozenset(
    "teaser teasers card cards slider carousel trending popular latest promo promoted "
    "author bio tags footnote shoutbox".split()
)
# Names that say "this is the content" outweigh a furniture word beside them
# (`article-body pagination-first`, `entry-content share-enabled`).
CONTENT_TOKENS = frozenset("article body content entry post story text main".split())
ALWAYS_WEAK_TOKENS = frozenset(
    "sidebar comment comments disqus footer navigation navbar menu breadcrumb breadcrumbs "
    "related recommended outbrain taboola cookie consent newsletter share sharing".split()
)
FIGURE_TAGS = frozenset(("figure", "picture", "img", "amp-img"))


@dataclass(frozen=True)
class MainContent:
    regions: tuple  # elements read in full, in document order
    container: etree._Element  # read around the regions for images only
    around: frozenset  # the container and the regions' ancestors inside it


def main_content(body: etree._Element) -> MainContent | None:
    """The article's regions and the element around them; None when nothing stands out."""
    mass: dict = {}
    _mass(body, False, 0, mass, {})
    total = mass.get(body, 0)
    if total < MIN_PAGE_PROSE:
        return None
    headline = _headline(body)
    node = body
    while True:
        children = [c for c in node if isinstance(c.tag, str) and mass.get(c, 0)]
        heaviest = max(children, key=lambda c: mass[c], default=None)
        if heaviest is None or mass[heaviest] < MAIN_SHARE * total:
            break
        titled = _holder(children, headline)
        if heaviest.tag == "article" and titled is not None and titled is not heaviest:
            if titled.tag == "article":
                node = titled  # of sibling posts, the page's is the one with its headline
                break
        node = heaviest
    if node is body:
        return None
    parent = node.getparent()
    title = _title_before(body, node)
    between = _between_title_and(node, title)
    kept = [
        sibling
        for sibling in parent
        if isinstance(sibling.tag, str)
        and (
            sibling is node
            or _continues(sibling, mass.get(sibling, 0) >= SIBLING_SHARE * total)
            or (sibling in between and mass.get(sibling, 0) >= LONG_PARAGRAPH)
        )
    ]
    if title is not None and any(a in kept for a in title.iterancestors()):
        title = None  # read with the sibling that holds it
    container = _common_ancestor(title, parent) if title is not None else parent
    leads = _leads(container, title, kept[0]) if title is not None else []
    regions = ([title] if title is not None else []) + leads + kept
    around = {container}
    for region in regions:
        for ancestor in region.iterancestors():
            if ancestor is container:
                break
            around.add(ancestor)
    return MainContent(tuple(regions), container, frozenset(around))


def is_weak(element, allowed=frozenset()) -> bool:
    """Furniture by tag, class or id: a sidebar, a comment list, related teasers, a byline box.

    Names in allowed do not count (a header inside the article is the article's own).
    """
    if element.tag in WEAK_TAGS and element.tag not in allowed:
        return True
    names = set(tokens(element.get("class", "") + " " + element.get("id", ""))) - allowed
    if names & ALWAYS_WEAK_TOKENS:
        return True
    return bool(names & WEAK_TOKENS) and not names & CONTENT_TOKENS


def is_teaser(element) -> bool:
    """A short item around a link to another page with its headline: a card or list entry."""
    if len(element.text_content()) > TEASER_CHARS:
        return False
    return any(len(" ".join(a.text_content().split())) >= HEADLINE_LINK for a in element.iter("a"))


def _in_teaser(element, teasers: dict) -> bool:
    """Whether the text sits in a teaser: the list item itself, or the element's parent."""
    item = element if element.tag == "li" else element.getparent()
    if item is None:
        return False
    if item not in teasers:
        teasers[item] = is_teaser(item)
    return teasers[item]


def _is_unit(element) -> bool:
    """A paragraph-like element; a cell, item or quote holding blocks is a container."""
    if element.tag not in UNIT_TAGS:
        return False
    if element.tag not in CONTAINER_UNITS:
        return True
    return next(element.iterdescendants(*BLOCK_TAGS), None) is None


def _wraps_page(element) -> bool:
    """A furniture-named element holding the page's title or article wraps the page itself."""
    return next(element.iterdescendants("h1", "article", "main"), None) is not None


def _unit_length(element) -> int:
    """Characters of prose a unit holds outside its links; for other elements, their own text."""
    if _is_unit(element):
        text = element.text_content()
        linked = sum(len(a.text_content()) for a in element.iter("a"))
        return max(0, len(" ".join(text.split())) - linked)
    return _direct_length(element)


def _direct_length(element) -> int:
    """Characters of text directly inside an element, not in its children."""
    direct = (element.text or "") + "".join(child.tail or "" for child in element)
    return len(" ".join(direct.split()))


def _mass(element, weak: bool, depth: int, mass: dict, teasers: dict) -> int:
    """Prose characters under element (recorded in mass when not zero).

    teasers caches is_teaser per list item or unit parent: many units share one parent.
    """
    if not isinstance(element.tag, str) or element.tag in SKIP_TAGS or depth > MAX_DEPTH:
        return 0
    weak = weak or (is_weak(element) and not _wraps_page(element))
    if _is_unit(element):  # counted whole, once: not its descendants again
        length = 0 if weak else _unit_length(element)
        if length and _in_teaser(element, teasers):
            length = 0
        total = length if length >= MIN_UNIT_CHARS else 0
    else:
        direct = 0 if weak else _direct_length(element)
        if direct >= MIN_UNIT_CHARS and _in_teaser(element, teasers):
            direct = 0
        total = direct if direct >= MIN_UNIT_CHARS else 0
        for child in element:
            total += _mass(child, weak, depth + 1, mass, teasers)
    if total:
        mass[element] = total
    return total


def _continues(element, heavy: bool) -> bool:
    """A sibling of the article that is more of it: a heavy part, a long paragraph, a figure.

    A sibling <article> is another post (a list of entries, "you may also like").
    """
    if element.tag == "article":
        return False
    if heavy or element.tag in FIGURE_TAGS:
        return True
    return element.tag == "p" and _unit_length(element) >= LONG_PARAGRAPH


def _is_title(element) -> bool:
    return element.tag == "h1" and len(" ".join(element.text_content().split())) >= MIN_TITLE


def _headline(body) -> etree._Element | None:
    """The page's first h1 long enough to be a title."""
    return next((h1 for h1 in body.iter("h1") if _is_title(h1)), None)


def _holder(children, element) -> etree._Element | None:
    """The one of `children` that is `element` or holds it, if any."""
    if element is None:
        return None
    chain = {element, *element.iterancestors()}  # elements, kept alive: identity is safe
    return next((c for c in children if c in chain), None)


def _title_before(body, first) -> etree._Element | None:
    """The last h1 before the main content (the article's title), unless it wraps it."""
    title = None
    for element in body.iter():
        if element is first:
            break
        if _is_title(element):
            title = element
    if title is not None and any(a is title for a in first.iterancestors()):
        return None
    return title


def _between_title_and(node, title) -> list:
    """The siblings of node after the one holding the title: a question above its answers."""
    if title is None:
        return []
    parent = node.getparent()
    holder = _holder(parent, title)
    between = []
    for sibling in parent:
        if sibling is node:
            break
        between.append(sibling)
        if sibling is holder:
            between = []
    return between


def _leads(container, title, first) -> list:
    """Long paragraphs between the title and the article: a standfirst, a lead.

    A div counts by the text it holds directly (a lead is often a bare div).
    """
    leads, started = [], False
    for element in container.iter():
        if element is first:
            break
        if element is title:
            started = True
        elif (
            started
            and element.tag in ("p", "div")
            and _unit_length(element) >= LONG_PARAGRAPH
            and not any(a in leads for a in element.iterancestors())
            and not any(a is title for a in element.iterancestors())
            and not any(is_weak(a, HEADER_TOKENS) for a in _ancestors_within(element, container))
        ):
            leads.append(element)
    return leads


def _ancestors_within(element, container):
    yield element
    for ancestor in element.iterancestors():
        if ancestor is container:
            return
        yield ancestor


def _common_ancestor(a, b) -> etree._Element:
    chain = {a, *a.iterancestors()}
    return next((x for x in (b, *b.iterancestors()) if x in chain), b.getroottree().getroot())
