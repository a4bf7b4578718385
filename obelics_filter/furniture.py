"""What marks page furniture in HTML: tags, class and id tokens, ARIA roles.

Shared by the main-content finder and the DOM reader; both skip what these name.
"""

import functools
import re

# Whole subtrees that never hold page content.
SKIP_TAGS = frozenset(
    "head title script style template noscript svg math canvas iframe frame frameset object "
    "embed applet video audio map area select option optgroup button input textarea label "
    "datalist output progress meter dialog nav aside menu footer".split()
)
# Never stripped by a class or id: they hold the page, not the furniture around it.
PROTECTED_TAGS = frozenset(("html", "body", "main", "article"))

# Class and id tokens (split on punctuation and camelCase) that mark furniture.
BOILERPLATE_TOKENS = frozenset(
    """
    footer header navigation nav navbar menu menubar submenu sidebar breadcrumb breadcrumbs
    masthead topbar toolbar ad ads advert adverts advertisement advertisements advertising
    sponsored sponsor adsense adsbygoogle doubleclick dfp cookie cookies consent gdpr
    share sharing sharebar social newsletter subscribe subscription signup login popup modal
    freemiumwall registration
    related recommended recommendations outbrain taboola comments comment disqus pagination
    pager date dateline byline widget
    """.split()
)
BOILERPLATE_CLASSES = frozenset(
    ("site-info", "sr-only", "screen-reader-text", "visually-hidden", "skip-link")
)
BOILERPLATE_ROLES = frozenset(
    "navigation banner contentinfo complementary menu menubar search dialog alertdialog "
    "toolbar tablist".split()
)
HEADER_TOKENS = frozenset(("header", "masthead", "topbar"))
# Classes that name a post's category or tags (WordPress), not the element's role.
TAXONOMY_PREFIXES = ("category-", "tag-", "tags-", "cat-", "topic-", "section-")
CUT_CLASS = "more-link"
LIST_TAGS = frozenset(("ul", "ol", "dl"))
LINK_DENSITY = 0.7  # a list this much link text is a menu or a list of other pages

_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|(?:left|top|text-indent)\s*:\s*-\d{3,}", re.I
)


@functools.lru_cache(maxsize=16384)
def tokens(value: str) -> tuple[str, ...]:
    """Lower-cased words of a class or id: `articleBody-main_2` -> article, body, main, 2.

    Cached: a page repeats the same few class names on thousands of elements.
    """
    return tuple(token.lower() for token in _TOKEN.findall(value))
