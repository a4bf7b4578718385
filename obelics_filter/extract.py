"""HTML to interleaved nodes: simplify the DOM, then read text and images in document order.

One walk over the lxml tree does both steps of the OBELICS recipe. Subtrees that are
boilerplate (navigation, headers and footers of the site, menus, forms, ads, cookie and
share widgets, hidden elements) are skipped whole; inline tags are read through; empty
elements and images without a usable URL contribute nothing, which is what removing empty
leaves repeatedly achieves. Text between two images becomes one TextNode, its blocks joined
by a separator taken from the DOM: a blank line around paragraphs, headings, lists, quotes
and tables, a newline around divs, list items, rows and at <br>.
"""

import re
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from obelics_filter.furniture import (
    BOILERPLATE_CLASSES,
    BOILERPLATE_ROLES,
    BOILERPLATE_TOKENS,
    CUT_CLASS,
    HEADER_TOKENS,
    HIDDEN_STYLE,
    LINK_DENSITY,
    LIST_TAGS,
    PROTECTED_TAGS,
    SKIP_TAGS,
    TAXONOMY_PREFIXES,
    tokens,
)
from obelics_filter.main_content import (
    TEASER_CHARS,
    MainContent,
    is_teaser,
    is_weak,
    main_content,
)
from obelics_filter.records import ImageNode, Node, TextNode

MAX_HTML_CHARS = 5_000_000
MAX_ELEMENTS = 200_000
MAX_IMAGES = 1_000
MAX_DEPTH = 400

NEWLINE, BLANK_LINE = 1, 2
_SEPARATORS = {NEWLINE: "\n", BLANK_LINE: "\n\n"}

_BLANK_LINE_TAGS = frozenset(
    "p h1 h2 h3 h4 h5 h6 ul ol dl blockquote table pre hr article section main address "
    "figure details".split()
)
_NEWLINE_TAGS = frozenset(
    "div li tr dt dd figcaption caption header summary center fieldset legend body html "
    "thead tbody tfoot form".split()
)
_CELL_TAGS = frozenset(("td", "th"))
_IMAGE_TAGS = frozenset(("img", "amp-img"))
_BAR_TAGS = frozenset(("div", "p", "center", "span"))
LINK_BAR_CHARS = 100
_CARD_TAGS = ("p", "h1", "h2", "h3", "h4", "h5", "h6")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_LOOKS_LIKE_HTML = re.compile(r"<\s*[a-zA-Z!/]")
_URL_NOISE = re.compile(r"[\t\n\r]")
_SIZE = re.compile(r"^\s*(\d{1,6})(?:\.\d*)?\s*(?:px)?\s*$", re.I)
_PLACEHOLDER = re.compile(
    r"(?:^|/)(?:spacer|blank|pixel|transparent|clear|empty|dot|1x1|placeholder|lazy|loading|"
    r"loader|grey|gray|lazyload|lazy-placeholder|trans)\.(?:gif|png|svg|jpe?g|webp)$",
    re.I,
)
IMAGE_ATTRIBUTES = (
    "src",
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-hi-res-src",
    "data-full-src",
    "data-orig-file",
)
SRCSET_ATTRIBUTES = ("srcset", "data-srcset", "data-lazy-srcset")


def extract_nodes(html: str, url: str) -> list[Node]:
    """The page's text and images in reading order, text merged between images.

    Text is read from the main content only (see main_content): the element holding
    the page's article, the siblings that continue it and the title before it; the
    rest of the element around them gives its images (a lead picture above the
    title) but not its text. When that gives no text the whole page is read, and if
    even that is empty, the main content (or the page) once more without the class,
    id and form rules, so that an article inside an element named like furniture
    (or a whole page inside one <form>, as ASP.NET writes them) is never lost.
    """
    root = parse_html(html)
    if root is None:
        return []
    base, prose, chain = base_url(root, url), _prose_length(root), _main_text_chain(root)
    body = root.find("body")
    body = body if body is not None else root
    main = main_content(body)
    attempts = (
        [(main, True), (None, True), (main, False)] if main else [(None, True), (None, False)]
    )
    for article, strict in attempts:
        reader = _Reader(base, prose, chain, strict=strict)
        if article is None:
            reader.walk(body, 0, body.tag in ("article", "main"))
        else:
            reader.read_main(article)
        nodes = reader.finish()
        if any(isinstance(node, TextNode) for node in nodes):
            return nodes
    return nodes


def parse_html(html: str) -> etree._Element | None:
    """An lxml tree of the page, or None for an empty or non-HTML body."""
    if not html:
        return None
    html = html[:MAX_HTML_CHARS].replace("\x00", "")
    html = _XML_DECLARATION.sub("", html, count=1)
    if not _LOOKS_LIKE_HTML.search(html[:65536]):
        return None
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    try:
        root = lxml.html.document_fromstring(html, parser=parser)
    except (etree.ParserError, ValueError, etree.XMLSyntaxError):
        return None
    # Code is never content, and measuring text must not count it.
    etree.strip_elements(root, "script", "style", "template", with_tail=False)
    return root


def base_url(root: etree._Element, page_url: str) -> str:
    """The URL relative links resolve against: <base href> if valid, else the page URL."""
    for base in root.iterfind(".//base[@href]"):
        candidate = _absolute(page_url, base.get("href", ""))
        if candidate:
            return candidate
        break
    return page_url


def image_url(element: etree._Element, base: str) -> str | None:
    """The first usable image URL: plain and lazy-load attributes, then the largest srcset."""
    for name in IMAGE_ATTRIBUTES:
        found = _usable_src(element.get(name), base)
        if found:
            return found
    for name in SRCSET_ATTRIBUTES:
        value = element.get(name)
        if value:
            found = _usable_src(largest_srcset_candidate(value), base)
            if found:
                return found
    return None


def largest_srcset_candidate(srcset: str) -> str | None:
    """The URL with the largest width (or density) descriptor; URLs may contain commas."""
    best, best_key = None, None
    for candidate, descriptor in _srcset_candidates(srcset):
        key = _descriptor_key(descriptor)
        if best_key is None or key > best_key:
            best, best_key = candidate, key
    return best


def _srcset_candidates(srcset: str):
    pos, end = 0, len(srcset)
    while pos < end:
        while pos < end and (srcset[pos].isspace() or srcset[pos] == ","):
            pos += 1
        start = pos
        while pos < end and not srcset[pos].isspace():
            pos += 1
        candidate = srcset[start:pos]
        if not candidate:
            break
        descriptor = ""
        if candidate.endswith(","):
            candidate = candidate.rstrip(",")
        else:
            comma = srcset.find(",", pos)
            comma = end if comma < 0 else comma
            descriptor, pos = srcset[pos:comma].strip(), comma + 1
        yield candidate, descriptor


def _descriptor_key(descriptor: str) -> tuple[int, float]:
    """Widths outrank densities; a bare URL counts as 1x."""
    for part in descriptor.split():
        try:
            if part[-1:] in ("w", "W"):
                return (1, float(part[:-1]))
            if part[-1:] in ("x", "X"):
                return (0, float(part[:-1]))
        except ValueError:
            continue
    return (0, 1.0)


def _usable_src(value: str | None, base: str) -> str | None:
    if not value:
        return None
    value = _URL_NOISE.sub("", value).strip()
    if not value or value.lower().startswith(("data:", "javascript:", "about:", "blob:")):
        return None
    absolute = _absolute(base, value)
    if not absolute or _PLACEHOLDER.search(urlsplit(absolute).path):
        return None
    if absolute == base.split("#", 1)[0]:  # src="#": the page itself, not an image
        return None
    return absolute


def _absolute(base: str, value: str) -> str | None:
    """An absolute http(s) URL without fragment, or None when the value is not one."""
    value = _URL_NOISE.sub("", value or "").strip().replace(" ", "%20")
    if not value:
        return None
    try:
        joined = urljoin(base, value)
        parts = urlsplit(joined)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return joined.split("#", 1)[0]


def _main_text_chain(root: etree._Element) -> frozenset:
    """The element holding the most paragraph text, and its ancestors: never boilerplate."""
    totals: dict = {}
    for paragraph in root.iter("p"):
        parent = paragraph.getparent()
        if parent is not None:
            totals[parent] = totals.get(parent, 0) + len(paragraph.text_content())
    if not totals:
        return frozenset()
    main = max(totals, key=totals.get)
    return frozenset([main, *main.iterancestors()])


def _prose_length(element: etree._Element) -> int:
    """Characters of text outside links: prose, as opposed to link lists and menus."""
    try:
        total = len(element.text_content())
        linked = sum(len(link.text_content()) for link in element.iter("a"))
    except ValueError:
        return 0
    return max(0, total - linked)


class _Reader:
    """Walks the tree once, collecting blocks of text and images in order."""

    def __init__(self, base: str, page_text_length: int, main_chain: frozenset, strict=True):
        self.base = base
        self.strict = strict  # False: no class, id or role rules (the last fallback)
        self.page_text_length = page_text_length
        self.main_chain = main_chain
        self.nodes: list[Node] = []
        self.blocks: list[tuple[int, str]] = []  # (separator before it, text)
        self.pieces: list[str] = []  # raw inline text of the open block
        self.pending = 0  # strongest break seen since the last text
        self.block_break = 0  # separator that precedes the open block
        self.elements = 0
        self.images = 0

    def walk(self, element: etree._Element, depth: int, in_article: bool) -> bool:
        """Read one element and its subtree; False means cut the rest of the parent."""
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            return False
        if depth > MAX_DEPTH:
            return True
        tag = element.tag if isinstance(element.tag, str) else ""
        tag = tag.lower()
        if tag == "noscript":
            self._noscript_images(element)
            return True
        if (
            not tag
            or tag in SKIP_TAGS
            or (self.strict and self._is_boilerplate(element, tag, in_article))
        ):
            return CUT_CLASS not in (element.get("class") or "")
        if tag in _IMAGE_TAGS:
            self.image(element)
            return True
        if tag == "br":
            self.brk(NEWLINE)
            return True
        if tag == "picture":
            self._picture(element)
            return True
        self._container(element, tag, depth, in_article or tag in ("article", "main"))
        return True

    def read_main(self, main: MainContent) -> None:
        """Text and images of the regions; images only from the rest of the container."""
        self._around(main.container, main, set(main.regions), 0)

    def _around(self, element, main: MainContent, regions: set, depth: int) -> None:
        for child in element:
            if child in regions:
                self.brk(BLANK_LINE)
                self.walk(child, depth + 1, True)
                self.brk(BLANK_LINE)
            elif child in main.around:
                self._around(child, main, regions, depth + 1)
            else:
                self._images_only(child, depth + 1)

    def _images_only(self, element, depth: int) -> None:
        """Pictures outside the article's text, minus furniture and teasers of other pages."""
        self.elements += 1
        if self.elements > MAX_ELEMENTS or depth > MAX_DEPTH:
            return
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if not tag or tag in SKIP_TAGS or is_weak(element):
            return
        if self.strict and self._is_boilerplate(element, tag, False):
            return
        if tag in _IMAGE_TAGS:
            self.image(element)
        elif tag == "picture":
            self._picture(element)
        elif tag == "noscript":
            self._noscript_images(element)
        elif tag == "a" and not _is_image_link(element.get("href", "")):
            return  # a thumbnail linking to another page
        elif tag in ("li", "article") and is_teaser(element):
            return
        else:
            for child in element:
                self._images_only(child, depth + 1)

    def _container(self, element, tag: str, depth: int, in_article: bool) -> None:
        level = BLANK_LINE if tag in _BLANK_LINE_TAGS else NEWLINE if tag in _NEWLINE_TAGS else 0
        self.brk(level)
        if tag in _CELL_TAGS:
            self.text(" ")
        self.text(element.text)
        for child in element:
            if not self.walk(child, depth + 1, in_article):
                break
            self.text(child.tail)
        if tag in _CELL_TAGS:
            self.text(" ")
        self.brk(level)

    def _is_boilerplate(self, element, tag: str, in_article: bool) -> bool:
        if tag == "header" and not in_article:
            return True
        if tag == "form":
            return element.find(".//p") is None
        if tag in LIST_TAGS and self._mostly_links(element):
            return True
        if tag in _BAR_TAGS and _is_link_bar(element):
            return True
        if tag == "p" and _is_link_paragraph(element):
            return True
        if tag == "a" and _is_card(element):
            return True
        attrib = element.attrib
        if not attrib or tag in PROTECTED_TAGS:
            return False
        if "hidden" in attrib or HIDDEN_STYLE.search(attrib.get("style", "")):
            return True
        role = attrib.get("role", "").strip().lower()
        if role in BOILERPLATE_ROLES and not (role == "banner" and in_article):
            return self._not_the_page(element)
        classes = attrib.get("class", "")
        if CUT_CLASS in classes:
            return True
        marked = self._marked(classes, in_article) or self._marked(attrib.get("id", ""), in_article)
        if not marked:
            title = attrib.get("title", "").strip().lower()
            marked = title in BOILERPLATE_TOKENS
        return marked and self._not_the_page(element)

    @staticmethod
    def _marked(value: str, in_article: bool) -> bool:
        if not value:
            return False
        lowered = value.lower().split()
        if any(name in BOILERPLATE_CLASSES for name in lowered):
            return True
        for name in value.split():
            if name.lower().startswith(TAXONOMY_PREFIXES):
                continue
            for token in tokens(name):
                if token in BOILERPLATE_TOKENS and not (in_article and token in HEADER_TOKENS):
                    return True
        return False

    def _mostly_links(self, element) -> bool:
        """A list whose text is nearly all links is a menu or a list of other pages."""
        if element in self.main_chain:
            return False
        links = 0
        linked = 0
        for link in element.iter("a"):
            links += 1
            linked += len(link.text_content().strip())
        if links < 3:
            return False
        total = len(" ".join(element.text_content().split()))
        return linked >= LINK_DENSITY * total

    def _not_the_page(self, element) -> bool:
        """A marked element is furniture unless it wraps the article or much of its prose."""
        if element in self.main_chain:
            return False
        if element.find(".//article") is not None or element.find(".//main") is not None:
            return False
        length = _prose_length(element)
        return length < 500 or length < 0.4 * self.page_text_length

    def _noscript_images(self, element) -> None:
        """A lazy-loaded image often has its real URL only in the <noscript> copy."""
        for child in element.iter("img"):
            self.image(child)

    def _picture(self, element) -> None:
        image = next(element.iter("img", "amp-img"), None)
        if image is not None and image_url(image, self.base):
            self.image(image)
            return
        for source in element.iter("source"):
            value = source.get("srcset") or source.get("data-srcset")
            src = _usable_src(largest_srcset_candidate(value or ""), self.base)
            if src:
                self._emit_image(src, image if image is not None else source)
                return

    def image(self, element) -> None:
        src = image_url(element, self.base)
        if src:
            self._emit_image(src, element)

    def _emit_image(self, src: str, element) -> None:
        self._close_text()
        if self.images >= MAX_IMAGES:
            return
        if self.nodes and isinstance(self.nodes[-1], ImageNode) and self.nodes[-1].src == src:
            return
        alt = " ".join((element.get("alt") or "").split())
        self.nodes.append(
            ImageNode(src, alt, _size(element.get("width")), _size(element.get("height")))
        )
        self.images += 1

    def brk(self, level: int) -> None:
        if level > self.pending:
            self.pending = level

    def text(self, value: str | None) -> None:
        if not value:
            return
        if self.pending:
            if value.isspace():
                return
            self._close_block()
        self.pieces.append(value)

    def _close_block(self) -> None:
        text = " ".join("".join(self.pieces).split())
        self.pieces = []
        if text:
            self.blocks.append((self.block_break, text))
            self.block_break = 0
        if self.blocks:
            self.block_break = max(self.block_break, self.pending)
        self.pending = 0

    def _close_text(self) -> None:
        self._close_block()
        if self.blocks:
            parts = [self.blocks[0][1]]
            for separator, text in self.blocks[1:]:
                parts.append(_SEPARATORS.get(separator, " "))
                parts.append(text)
            self.nodes.append(TextNode("".join(parts)))
        self.blocks = []
        self.block_break = 0
        self.pending = 0

    def finish(self) -> list[Node]:
        self._close_text()
        return self.nodes


def _is_link_bar(element) -> bool:
    """A short row of three or more links and little else: share buttons, a pager."""
    links = list(element.iter("a"))
    if len(links) < 3:
        return False
    total = len(" ".join(element.text_content().split()))
    if total > LINK_BAR_CHARS:
        return False
    linked = sum(len(link.text_content().strip()) for link in links)
    return linked >= LINK_DENSITY * total


def _is_link_paragraph(paragraph) -> bool:
    """A paragraph that is one link to another page: "READ MORE: ...", a promo line."""
    links = [link for link in paragraph.iter("a") if not _is_image_link(link.get("href", ""))]
    if len(links) != 1:
        return False
    total = len(" ".join(paragraph.text_content().split()))
    linked = len(" ".join(links[0].text_content().split()))
    return total > 0 and linked >= 0.9 * total


def _is_card(link) -> bool:
    """A link wrapping a headline or paragraph: a teaser card for another page."""
    if _is_image_link(link.get("href", "")):
        return False
    if next(link.iterdescendants(*_CARD_TAGS), None) is None:
        return False
    return len(link.text_content()) <= TEASER_CHARS


def _is_image_link(href: str) -> bool:
    """A link to the picture itself (a full-size view), not to another page."""
    try:
        path = urlsplit(_URL_NOISE.sub("", href).strip()).path.lower()
    except ValueError:
        return False
    return path.endswith((".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif"))


def _size(value: str | None) -> int | None:
    if not value:
        return None
    match = _SIZE.match(value)
    return int(match.group(1)) if match else None
