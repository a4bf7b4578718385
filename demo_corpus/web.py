"""A small Common Crawl-like WARC for the OBELICS-style web pipeline.

`web/warc/demo.warc.gz` holds one warcinfo record, a request, HTML responses
chosen to exercise every stage (DOM simplification, lazy image attributes,
charset detection, text filters, URL dedup, opt-out) and a response for every
image the pages reference, so the pipeline resolves images offline.
`web/warc/bad/` holds truncated copies. Hosts use the reserved `.example`
TLD and addresses from the documentation range 192.0.2.0/24.

The index entry for demo.warc.gz lists every record with what the pipeline
is expected to do with it; that list is the ground truth tests compare with:

- every record: url, type (warcinfo/request/response), content_type (the
  HTTP Content-Type for responses, the WARC one otherwise), role, and
  offset/length of its gzip member, for ranged reads.
- HTML pages add expect (keep, drop:spam, drop:language, drop:url_dedup,
  drop:opt_out), language, encoding, content_text (snippets an extractor must
  keep), boilerplate_text (snippets it should strip) and images: one
  {url, attr, expect, reasons} per referenced image, url made absolute, attr
  the attribute that carries it, expect one of keep, drop (reasons say which
  filters apply), placeholder (a lazy-loading stand-in) or alternate (a
  smaller srcset candidate of a kept image).
- image records add width, height, format and the page that first used them.
"""

import base64
import html
import io
import random
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urljoin

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from demo_corpus import images

WARC_DIR = "web/warc"
GAZETTE = "https://www.riverside-gazette.example"
ARTICLE_URL = f"{GAZETTE}/2023/05/community-orchard/index.html"
LISTING_URL = f"{GAZETTE}/news/"
OPTOUT_URL = f"{GAZETTE}/2023/05/library-roof.html"
SPAM_URL = "https://best-cheap-watches.example/buy-cheap-watches-online.html"
FRENCH_URL = "https://www.gazette-des-quais.example/2023/05/verger-partage.html"
LAZY_URL = "https://blog.harbour-walks.example/2023/06/winter-walk.html"
ROBOTS_URL = f"{GAZETTE}/robots.txt"
PIXEL_DATA_URI = "data:image/gif;base64," + base64.b64encode(images.pixel_gif()).decode()


@dataclass
class ImageSpec:
    """One image a page references: where, how, and what the filters should do."""

    ref: str
    width: int
    height: int
    fmt: str
    attr: str = "src"
    expect: str = "keep"
    reasons: list[str] = field(default_factory=list)
    kind: str = "photo"


@dataclass
class Page:
    """One HTML response: its markup (as text), encoding and expected outcome."""

    role: str
    url: str
    date: str
    html: str
    expect: str
    language: str
    images: list[ImageSpec]
    encoding: str = "utf-8"
    http_content_type: str = "text/html; charset=utf-8"
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    content_text: list[str] = field(default_factory=list)
    boilerplate_text: list[str] = field(default_factory=list)


# --- page texts --------------------------------------------------------------

ARTICLE_TITLE = "Volunteers turn the old rail yard into a community orchard"

ARTICLE_PARAGRAPHS = [
    "More than sixty volunteers spent Saturday morning planting fruit trees on the strip of "
    "land beside the old rail yard, which the town bought from the railway company last "
    "autumn. By lunchtime they had put in forty-two apple, pear and plum trees, along with a "
    "long hedge of hazel and hawthorn that will shelter the young orchard from the wind off "
    "the river.",
    "The project was started by a small group of neighbours who were tired of looking at a "
    "fenced-off patch of gravel and weeds. \u201cWe wanted a place where children could pick an "
    "apple on the way home from school,\u201d said Maria Okafor, who chairs the orchard group. "
    "\u201cIt took two years of meetings, but the council listened, and the railway was happy "
    "to sell the land for a modest price.\u201d",
    "Before any trees could go in, the soil had to be tested. Old rail yards often contain "
    "ash, oil and metal from decades of use, so the group paid for samples to be taken at "
    "twelve points across the site. Most of the results were good, but one corner near the "
    "former signal box showed raised levels of lead. That area will be covered with clean "
    "topsoil and used for raised beds of herbs and flowers instead of fruit.",
    "The varieties were chosen with advice from the county fruit society. Many of them are "
    "old local apples that are hard to find in shops, such as the Riverside Pippin and the "
    "Grey Mill Russet. \u201cThese trees have grown in this valley for two hundred years,\u201d "
    "said Tom Hale, a retired teacher who grafted several of the young trees himself. "
    "\u201cThey know the weather here better than any of us do.\u201d",
    "The orchard will be open to everyone from dawn to dusk. The group plans to hold a "
    "blossom walk in April and a harvest day in October, when the first small crop should "
    "be ready. Anyone who would like to help with watering during the summer can sign up at "
    "the library or leave their name with the stall at the Saturday market.",
]

ARTICLE_UPDATE = "Update, 9 May: the council has agreed to pay for two benches and a water tap."
OLD_CAPTURE_NOTE = "This story will be updated as the planting continues."

LISTING_INTRO = (
    "Here is the latest news from around the town, written by our reporters and by the "
    "readers who send us their stories. If something is happening on your street, we would "
    "like to hear about it, and you can reach the newsroom by phone or by letter."
)

TEASERS = [
    (
        ARTICLE_URL,
        ARTICLE_TITLE,
        "More than sixty people came out on Saturday to plant apple, pear and plum trees on "
        "land that had been empty for years.",
    ),
    (
        OPTOUT_URL,
        "Council approves money for the library roof",
        "The roof has leaked for three winters, and the repairs will start in the summer when "
        "the reading room can be closed for a few weeks.",
    ),
    (
        f"{GAZETTE}/2023/05/market-square.html",
        "Saturday market moves back to the square",
        "After a year on the car park the stalls are returning to the old market square, with "
        "more space for food and for local growers.",
    ),
]

LISTING_BOILERPLATE = {
    "nav": ["Home", "Sport", "What's on", "Letters to the editor", "Subscribe today"],
    "ads": [
        "Advertisement",
        "Sponsored links: cheap flights to anywhere",
        "Sponsored: win a garden makeover, click here",
    ],
    "footer": [
        "\u00a9 2023 Riverside Gazette",
        "Privacy policy",
        "Cookie settings",
        "Powered by PressEngine",
    ],
}

SPAM_CHUNK = (
    "BUY CHEAP WATCHES!!! $$$ \u2605\u2605\u2605\u2605\u2605 cheap watches $$$ cheap watches "
    "\u2605\u2605\u2605 BEST PRICE!!! >>> CLICK HERE <<< ### cheap watches ### %%% 100% ORIGINAL "
    "%%% !!! free shipping !!! $$$ \u2605\u2605\u2605\u2605\u2605 >>> cheap watches <<< "
)
SPAM_KEYWORDS = (
    "watches, cheap watches, buy watches, watches online, cheap watches online, best "
    "watches, discount watches, watches sale, watches cheap, cheap cheap watches, replica "
    "watches, watches watches watches"
)

FRENCH_TITLE = "Un verger partag\u00e9 sur l\u2019ancienne friche ferroviaire"
FRENCH_PARAGRAPHS = [
    "Samedi matin, plus de soixante b\u00e9n\u00e9voles se sont retrouv\u00e9s le long des quais "
    "pour planter des arbres fruitiers sur l\u2019ancienne friche ferroviaire. \u00c0 midi, "
    "quarante-deux pommiers, poiriers et pruniers \u00e9taient en terre, "
    "prot\u00e9g\u00e9s du vent par une longue haie de noisetiers et d\u2019aub\u00e9pines.",
    "\u00ab Nous voulions un lieu o\u00f9 les enfants puissent cueillir une pomme en rentrant de "
    "l\u2019\u00e9cole \u00bb, explique Marie Lef\u00e8vre, qui pr\u00e9side "
    "l\u2019association. Le projet lui tient \u00e0 c\u0153ur depuis deux ans : il a fallu "
    "convaincre la mairie, puis la "
    "compagnie ferroviaire, qui a c\u00e9d\u00e9 le terrain pour 15 000 \u20ac.",
    "Avant de planter, l\u2019association a fait analyser la terre en douze points. Un coin "
    "pr\u00e8s de l\u2019ancien poste d\u2019aiguillage contenait trop de plomb\u00a0; il sera "
    "recouvert de terre propre et r\u00e9serv\u00e9 \u00e0 des bacs de fleurs et d\u2019herbes "
    "aromatiques. Les vari\u00e9t\u00e9s choisies sont pour la plupart d\u2019anciennes pommes de "
    "la vall\u00e9e, que l\u2019on ne trouve plus gu\u00e8re dans les magasins.",
    "Le verger sera ouvert \u00e0 tous, du lever au coucher du soleil. Une f\u00eate des fleurs "
    "est pr\u00e9vue en avril et une journ\u00e9e de r\u00e9colte en octobre. Cette \u0153uvre "
    "collective a d\u00e9j\u00e0 donn\u00e9 des id\u00e9es \u00e0 d\u2019autres quartiers "
    "de la ville.",
]

LAZY_TITLE = "A winter walk along the harbour wall"
LAZY_PARAGRAPHS = [
    "The best time to walk the harbour wall is early on a cold morning, before the cafes "
    "open and while the water is still flat. We set off from the old customs house just "
    "after seven, with the tide on the turn and a thin mist lying over the moorings.",
    "Most of the fishing boats had already gone out, but a few were still being loaded with "
    "crates and nets. The crews did not seem to mind us taking pictures, as long as we kept "
    "out of the way of the forklift that runs up and down the quay.",
    "At the end of the wall the lighthouse stands on a square block of granite. It has not "
    "been staffed since the nineteen eighties, but the lamp still turns every night, and on "
    "a clear evening you can see its beam from the hills above the town.",
    "On the way back we stopped to watch the gulls fighting over scraps behind the fish "
    "market. By then the sun had burned through the mist, and the whole harbour was gold "
    "for a few minutes before the clouds came in again from the west.",
]

OPTOUT_TITLE = "Council approves money for the library roof"
OPTOUT_PARAGRAPHS = [
    "The town council has agreed to spend ninety thousand pounds on a new roof for the "
    "central library, after three winters in which buckets had to be placed between the "
    "shelves every time it rained. The work will start in July, when the reading room can "
    "be closed for a few weeks without too much trouble for students.",
    "Councillors from all parties supported the plan, although some asked why the repairs "
    "had taken so long. The head librarian said that most of the books had been moved to "
    "the upper floor in good time, and that only a small number of old maps were damaged "
    "by the water last year.",
]


# --- markup ------------------------------------------------------------------


def _paragraphs(texts: list[str]) -> str:
    return "\n".join(f"<p>{t}</p>" for t in texts)


def _figure(src: str, alt: str, caption: str) -> str:
    return (
        f'<figure class="wp-block-image"><img src="{src}" alt="{alt}" loading="lazy">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _gazette_header() -> str:
    return (
        '<header class="site-header"><a href="/"><img src="/static/riverside-gazette-logo.png" '
        'alt="Riverside Gazette" width="120" height="40"></a>'
        '<nav class="main-nav"><ul><li><a href="/">Home</a></li><li><a href="/news/">News</a>'
        '</li><li><a href="/sport/">Sport</a></li><li><a href="/whats-on/">What\'s on</a></li>'
        "</ul></nav></header>"
    )


def _gazette_footer() -> str:
    return (
        '<footer><div class="footer">\u00a9 2023 Riverside Gazette \u00b7 '
        '<a href="/privacy">Privacy policy</a> \u00b7 <a href="/cookies">Cookie settings</a>'
        '</div><div class="site-info">Powered by PressEngine</div></footer>'
    )


def _document(title: str, head_extra: str, body: str, lang: str = "en") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n{head_extra}'
        f"<title>{title}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


ARTICLE_IMAGES = {
    "planting": ImageSpec("images/orchard-planting.jpg", 640, 427, "jpeg"),
    "saplings": ImageSpec("/media/2023/05/grafted-saplings.webp", 480, 480, "webp"),
    "plan": ImageSpec("../../media/orchard-site-plan.png", 600, 400, "png"),
    "banner": ImageSpec(
        "/static/banners/garden-centre-wide.jpg",
        900,
        120,
        "jpeg",
        expect="drop",
        reasons=["aspect_ratio"],
        kind="banner",
    ),
    "icon": ImageSpec(
        "/static/icons/share-icon.png",
        24,
        24,
        "png",
        expect="drop",
        reasons=["url_pattern", "size"],
        kind="icon",
    ),
    "logo": ImageSpec(
        "/static/riverside-gazette-logo.png",
        120,
        40,
        "png",
        expect="drop",
        reasons=["boilerplate", "url_pattern", "size"],
        kind="logo",
    ),
}


def _article_body(paragraphs: list[str], note: str, with_plan: bool) -> str:
    img = ARTICLE_IMAGES
    parts = [
        _gazette_header(),
        '<main><article class="post">',
        f"<h1>{ARTICLE_TITLE}</h1>",
        '<div class="date">Saturday 6 May 2023</div>',
        _paragraphs(paragraphs[:1]),
        _figure(
            img["planting"].ref,
            "Volunteers planting young apple trees beside the rail yard",
            "Volunteers plant the first row of apple trees on Saturday.",
        ),
        _paragraphs(paragraphs[1:3]),
        f'<div class="inline-promo"><img src="{img["banner"].ref}" '
        'alt="Spring sale at Greenway Garden Centre"></div>',
        "<h2>Old apples for an old valley</h2>",
        _paragraphs(paragraphs[3:4]),
        _figure(
            img["saplings"].ref,
            "Grafted saplings of the Riverside Pippin apple",
            "Saplings of the Riverside Pippin, grafted by Tom Hale over the winter.",
        ),
        _paragraphs(paragraphs[4:]),
    ]
    if with_plan:
        parts.append(
            _figure(
                img["plan"].ref,
                "Plan of the orchard site",
                "The site plan, with raised beds in the north-east corner.",
            )
        )
    parts += [
        f"<p><em>{note}</em></p>",
        f'<a class="share" href="/share?u=orchard"><img src="{img["icon"].ref}" width="24" '
        'height="24" alt="Share"></a>',
        "</article></main>",
        _gazette_footer(),
    ]
    return "\n".join(parts)


def article_page(old: bool = False) -> Page:
    """The article; `old` gives the earlier, shorter capture of the same URL."""
    paragraphs = ARTICLE_PARAGRAPHS[:4] if old else ARTICLE_PARAGRAPHS
    note = OLD_CAPTURE_NOTE if old else ARTICLE_UPDATE
    body = _article_body(paragraphs, note, with_plan=not old)
    head = '<meta charset="utf-8">\n<meta name="viewport" content="width=device-width">\n'
    specs = [ARTICLE_IMAGES[k] for k in ("logo", "planting", "banner", "saplings")]
    specs += [] if old else [ARTICLE_IMAGES["plan"]]
    specs.append(ARTICLE_IMAGES["icon"])
    return Page(
        role="article_old_capture" if old else "article",
        url=ARTICLE_URL,
        date="2023-05-02T08:15:00Z" if old else "2023-05-09T17:42:10Z",
        html=_document(f"{ARTICLE_TITLE} | Riverside Gazette", head, body),
        expect="drop:url_dedup" if old else "keep",
        language="en",
        images=specs,
        content_text=[ARTICLE_TITLE, paragraphs[0][:60], note],
        boilerplate_text=["Powered by PressEngine", "Cookie settings"],
    )


LISTING_IMAGES = {
    "logo": ARTICLE_IMAGES["logo"],
    "ad": ImageSpec(
        "/ads/sponsored-300x250.jpg",
        300,
        250,
        "jpeg",
        expect="drop",
        reasons=["boilerplate"],
        kind="ad",
    ),
    "market": ImageSpec("//cdn.riverside-gazette.example/img/market-square.jpg", 560, 373, "jpeg"),
}


def listing_page() -> Page:
    """An index page buried in navigation, menus, ads and footers.

    Its own content is the intro and the picture; the teasers summarise other pages
    (each has its own article) and are left out like related-article lists.
    """
    img, bp = LISTING_IMAGES, LISTING_BOILERPLATE
    teasers = [
        f'<article class="teaser"><h2><a href="{url}">{title}</a></h2><p>{text}</p></article>'
        for url, title, text in TEASERS
    ]
    body = "\n".join(
        [
            f'<div id="header"><img src="{img["logo"].ref}" alt="Riverside Gazette"></div>',
            '<div id="navbar"><ul>'
            + "".join(f'<li><a href="#">{t}</a></li>' for t in bp["nav"])
            + "</ul></div>",
            '<div class="menu"><a href="/news/">News</a> | <a href="/sport/">Sport</a> | '
            '<a href="/letters/">Letters</a></div>',
            f'<div class="ad"><img src="{img["ad"].ref}" alt=""><span>{bp["ads"][0]}</span></div>',
            "<main>",
            "<h1>Local news</h1>",
            f"<p>{LISTING_INTRO}</p>",
            teasers[0],
            _figure(
                img["market"].ref,
                "Stalls in the old market square",
                "Stalls are coming back to the old market square this month.",
            ),
            teasers[1],
            teasers[2],
            "</main>",
            f'<div class="advert">{bp["ads"][1]}</div>',
            f'<div class="sponsored"><a href="https://ads.example/win">{bp["ads"][2]}</a></div>',
            '<div class="nav"><a href="/archive/">Archive</a> <a href="/rss">RSS</a></div>',
            '<footer><div class="footer">' + " \u00b7 ".join(bp["footer"][:3]) + "</div>"
            f'<div class="site-info">{bp["footer"][3]}</div></footer>',
        ]
    )
    head = '<meta charset="utf-8">\n'
    return Page(
        role="listing",
        url=LISTING_URL,
        date="2023-05-09T17:45:02Z",
        html=_document("Local news | Riverside Gazette", head, body),
        expect="keep",
        language="en",
        images=[img["logo"], img["ad"], img["market"]],
        content_text=[LISTING_INTRO[:60], "Stalls are coming back to the old market square"],
        boilerplate_text=[t for group in bp.values() for t in group],
    )


def spam_page() -> Page:
    """Keyword stuffing, repeated n-grams and symbol noise: text filters must drop it."""
    spec = ImageSpec("/img/watch-deal.jpg", 400, 400, "jpeg")
    body = "\n".join(
        [
            "<h1>CHEAP WATCHES!!! BUY CHEAP WATCHES ONLINE $$$</h1>",
            *(f"<p>{html.escape(SPAM_CHUNK * 3)}</p>" for _ in range(4)),
            f'<img src="{spec.ref}" alt="cheap watches cheap watches buy cheap watches">',
            f"<p>{SPAM_KEYWORDS}</p>",
            f'<div style="display:none">{SPAM_KEYWORDS} {SPAM_KEYWORDS}</div>',
        ]
    )
    head = f'<meta charset="utf-8">\n<meta name="keywords" content="{SPAM_KEYWORDS}">\n'
    return Page(
        role="spam",
        url=SPAM_URL,
        date="2023-05-09T18:01:33Z",
        html=_document("CHEAP WATCHES cheap watches BUY NOW", head, body),
        expect="drop:spam",
        language="en",
        images=[spec],
        content_text=["cheap watches"],
    )


def french_page() -> Page:
    """French text in windows-1252, declared only in a meta tag, never in HTTP."""
    spec = ImageSpec("/images/verger-quais.jpg", 640, 480, "jpeg")
    body = "\n".join(
        [
            f"<h1>{FRENCH_TITLE}</h1>",
            _paragraphs(FRENCH_PARAGRAPHS[:2]),
            _figure(
                spec.ref,
                "B\u00e9n\u00e9voles plantant des pommiers",
                "Les b\u00e9n\u00e9voles plantent la premi\u00e8re rang\u00e9e de pommiers.",
            ),
            _paragraphs(FRENCH_PARAGRAPHS[2:]),
        ]
    )
    head = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">\n'
    return Page(
        role="non_english",
        url=FRENCH_URL,
        date="2023-05-10T07:20:45Z",
        html=_document(f"{FRENCH_TITLE} \u2013 La Gazette des Quais", head, body, lang="fr"),
        expect="drop:language",
        language="fr",
        images=[spec],
        encoding="windows-1252",
        http_content_type="text/html",
        content_text=[FRENCH_TITLE, "c\u0153ur", "15 000 \u20ac"],
    )


LAZY_IMAGES = {
    "blank": ImageSpec(
        "/wp-content/themes/harbour/img/blank.gif",
        1,
        1,
        "gif",
        attr="src",
        expect="placeholder",
        kind="pixel",
    ),
    "wall": ImageSpec(
        "/wp-content/uploads/2023/06/harbour-wall.jpg", 720, 480, "jpeg", attr="data-src"
    ),
    "boats": ImageSpec(
        "/wp-content/uploads/2023/06/fishing-boats.webp", 600, 400, "webp", attr="data-lazy-src"
    ),
    "lighthouse_small": ImageSpec(
        "/wp-content/uploads/2023/06/lighthouse-300.jpg",
        300,
        400,
        "jpeg",
        attr="srcset",
        expect="alternate",
    ),
    "lighthouse": ImageSpec(
        "/wp-content/uploads/2023/06/lighthouse-600.jpg", 600, 800, "jpeg", attr="srcset"
    ),
    "gulls": ImageSpec(
        "/wp-content/uploads/2023/06/gulls.png", 500, 350, "png", attr="data-original"
    ),
    "sunset": ImageSpec(
        "/wp-content/uploads/2023/06/sunset-quay.jpg", 700, 467, "jpeg", attr="data-src"
    ),
}


def lazy_page() -> Page:
    """Images that only lazy-loading attributes, srcset or <noscript> reveal."""
    img = LAZY_IMAGES
    small, large = img["lighthouse_small"].ref, img["lighthouse"].ref
    body = "\n".join(
        [
            f"<article><h1>{LAZY_TITLE}</h1>",
            _paragraphs(LAZY_PARAGRAPHS[:1]),
            f'<img class="lazyload" src="{img["blank"].ref}" data-src="{img["wall"].ref}" '
            'alt="The harbour wall in the morning mist" width="720" height="480">',
            _paragraphs(LAZY_PARAGRAPHS[1:2]),
            f'<img src="{PIXEL_DATA_URI}" data-lazy-src="{img["boats"].ref}" '
            'alt="Fishing boats loading crates at the quay">',
            _paragraphs(LAZY_PARAGRAPHS[2:3]),
            f'<img srcset="{small} 300w, {large} 600w" sizes="(max-width: 600px) 300px, 600px" '
            'alt="The lighthouse on its granite block">',
            _paragraphs(LAZY_PARAGRAPHS[3:]),
            f'<img class="lazy" data-original="{img["gulls"].ref}" '
            'alt="Gulls behind the fish market">',
            f'<img class="lazyload" data-src="{img["sunset"].ref}" alt="Sunset over the quay">'
            f'<noscript><img src="{img["sunset"].ref}" alt="Sunset over the quay"></noscript>',
            "</article>",
        ]
    )
    head = '<meta charset="utf-8">\n'
    return Page(
        role="lazy_images",
        url=LAZY_URL,
        date="2023-06-14T06:55:18Z",
        html=_document(f"{LAZY_TITLE} \u2013 Harbour Walks", head, body),
        expect="keep",
        language="en",
        images=list(img.values()),
        content_text=[LAZY_TITLE, LAZY_PARAGRAPHS[2][:50]],
    )


def optout_page() -> Page:
    """An ordinary article whose server says X-Robots-Tag: noai, noimageai."""
    spec = ImageSpec("images/library-roof.jpg", 560, 400, "jpeg")
    body = "\n".join(
        [
            f"<main><article><h1>{OPTOUT_TITLE}</h1>",
            _paragraphs(OPTOUT_PARAGRAPHS[:1]),
            _figure(spec.ref, "Scaffolding on the library roof", "The library roof last winter."),
            _paragraphs(OPTOUT_PARAGRAPHS[1:]),
            "</article></main>",
        ]
    )
    return Page(
        role="opt_out",
        url=OPTOUT_URL,
        date="2023-05-09T17:50:40Z",
        html=_document(f"{OPTOUT_TITLE} | Riverside Gazette", '<meta charset="utf-8">\n', body),
        expect="drop:opt_out",
        language="en",
        images=[spec],
        extra_headers=[("X-Robots-Tag", "noai, noimageai")],
        content_text=[OPTOUT_TITLE],
    )


def pages() -> list[Page]:
    """The HTML pages, in crawl order (the old capture comes last, on purpose)."""
    return [
        article_page(),
        listing_page(),
        spam_page(),
        french_page(),
        lazy_page(),
        optout_page(),
        article_page(old=True),
    ]


# --- WARC writing ------------------------------------------------------------


def _http_date(warc_date: str) -> str:
    moment = datetime.strptime(warc_date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return format_datetime(moment, usegmt=True)


class DemoWarc:
    """Writes records with fixed dates and seeded record ids, and notes where each landed."""

    def __init__(self, out: io.BufferedIOBase, seed: int):
        self.out = out
        self.writer = WARCWriter(out, gzip=True, warc_version="1.0")
        self.rng = random.Random(images.derive_seed(seed, "warc-record-ids"))
        self.records: list[dict] = []
        self.warcinfo_id: str | None = None

    def new_id(self) -> str:
        return f"<urn:uuid:{uuid.UUID(int=self.rng.getrandbits(128), version=4)}>"

    def _write(self, record, facts: dict) -> None:
        start = self.out.tell()
        self.writer.write_record(record)
        facts.update(offset=start, length=self.out.tell() - start)
        self.records.append(facts)

    def _headers(self, date: str, ip: str | None = None, extra: dict | None = None) -> dict:
        headers = {"WARC-Date": date, "WARC-Record-ID": self.new_id()}
        if self.warcinfo_id:
            headers["WARC-Warcinfo-ID"] = self.warcinfo_id
        if ip:
            headers["WARC-IP-Address"] = ip
        headers.update(extra or {})
        return headers

    def warcinfo(self, filename: str, date: str) -> None:
        fields = [
            ("software", "demo_corpus (warcio)"),
            ("format", "WARC File Format 1.0"),
            (
                "conformsTo",
                "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/",
            ),
            ("isPartOf", "DEMO-CRAWL-2023-22"),
            ("description", "Synthetic crawl for tests; every host is under .example"),
            ("robots", "checked via crawler-commons"),
        ]
        payload = "".join(f"{k}: {v}\r\n" for k, v in fields).encode()
        headers = self._headers(date, extra={"WARC-Filename": filename})
        self.warcinfo_id = headers["WARC-Record-ID"]
        record = self.writer.create_warc_record(
            "",
            "warcinfo",
            payload=io.BytesIO(payload),
            length=len(payload),
            warc_content_type="application/warc-fields",
            warc_headers_dict=headers,
        )
        self._write(
            record,
            {
                "url": "",
                "type": "warcinfo",
                "content_type": "application/warc-fields",
                "role": "warcinfo",
            },
        )

    def request(self, url: str, date: str, role: str = "request") -> None:
        host = url.split("/")[2]
        path = url.split(host, 1)[1] or "/"
        text = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: DemoBot/1.0 "
            "(+https://crawler.example/bot)\r\nAccept: text/html,*/*;q=0.8\r\n"
            "Accept-Encoding: identity\r\n\r\n"
        ).encode()
        record = self.writer.create_warc_record(
            url,
            "request",
            payload=io.BytesIO(text),
            length=len(text),
            warc_headers_dict=self._headers(date),
        )
        self._write(
            record,
            {
                "url": url,
                "type": "request",
                "content_type": "application/http; msgtype=request",
                "role": role,
            },
        )

    def response(
        self,
        url: str,
        date: str,
        body: bytes,
        content_type: str,
        facts: dict,
        ip: str = "192.0.2.10",
        extra_headers: list | None = None,
    ) -> None:
        http_headers = [
            ("Date", _http_date(date)),
            ("Server", "nginx"),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            *(extra_headers or []),
            ("Connection", "close"),
        ]
        status = StatusAndHeaders("200 OK", http_headers, protocol="HTTP/1.1")
        mime = content_type.split(";")[0].strip()
        record = self.writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=status,
            warc_headers_dict=self._headers(date, ip, {"WARC-Identified-Payload-Type": mime}),
        )
        self._write(record, {"url": url, "type": "response", "content_type": content_type, **facts})


def _render_image(spec: ImageSpec, seed: int) -> bytes:
    if spec.kind == "pixel":
        return images.pixel_gif()
    if spec.kind == "logo":
        return images.encode(
            images.logo(seed, "RG", spec.width).resize((spec.width, spec.height)), spec.fmt
        )
    if spec.kind == "icon":
        return images.encode(images.logo(seed, "S", spec.width), spec.fmt)
    if spec.kind == "banner":
        picture = images.banner(seed, spec.width, spec.height, "Spring sale: 20% off")
        return images.encode(picture, spec.fmt)
    if spec.fmt == "png":
        return images.png_bytes(images.graphic(seed, spec.width, spec.height))
    picture = images.photo(seed, spec.width, spec.height).image
    return images.encode(picture, spec.fmt, quality=82)


def _page_facts(page: Page) -> dict:
    return {
        "role": page.role,
        "expect": page.expect,
        "language": page.language,
        "encoding": page.encoding,
        "images": [
            {
                "url": urljoin(page.url, s.ref),
                "attr": s.attr,
                "expect": s.expect,
                "reasons": s.reasons,
            }
            for s in page.images
        ],
        "content_text": page.content_text,
        "boilerplate_text": page.boilerplate_text,
    }


def _write_pages(warc: DemoWarc, seed: int) -> None:
    written: set[str] = set()
    for page in pages():
        if page.role == "article":
            warc.request(page.url, page.date)
        body = page.html.encode(page.encoding)
        warc.response(
            page.url,
            page.date,
            body,
            page.http_content_type,
            _page_facts(page),
            extra_headers=page.extra_headers,
        )
        for spec in page.images:
            url = urljoin(page.url, spec.ref)
            if url in written:
                continue
            written.add(url)
            data = _render_image(spec, images.derive_seed(seed, "web-image", url))
            facts = {
                "role": "image",
                "width": spec.width,
                "height": spec.height,
                "format": spec.fmt,
                "page": page.url,
            }
            warc.response(url, page.date, data, images.MIME[spec.fmt], facts, ip="192.0.2.20")


def _write_robots(warc: DemoWarc) -> None:
    body = (
        b"User-agent: *\nDisallow: /private/\nDisallow: /share\n\n"
        b"User-agent: DemoBot\nAllow: /\n\nSitemap: " + GAZETTE.encode() + b"/sitemap.xml\n"
    )
    warc.response(ROBOTS_URL, "2023-05-09T17:40:00Z", body, "text/plain", {"role": "robots"})


def build_warc(seed: int, filename: str = "demo.warc.gz") -> tuple[bytes, list[dict]]:
    """The demo WARC's bytes and its record list (offsets into the gzip file)."""
    out = io.BytesIO()
    warc = DemoWarc(out, seed)
    warc.warcinfo(filename, "2023-05-09T17:40:00Z")
    _write_robots(warc)
    _write_pages(warc, seed)
    return out.getvalue(), warc.records


# --- truncated copies --------------------------------------------------------


def _gzip_prefix(raw: bytes, keep: int) -> bytes:
    """A gzip member cut off after `keep` uncompressed bytes, with no trailer.

    Flushing at the cut makes the compressed prefix decode to exactly `keep`
    bytes, the way a download stopped at that point would.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(raw[:keep]) + compressor.flush(zlib.Z_SYNC_FLUSH)


def _truncated(data: bytes, records: list[dict], complete: int, keep: int) -> bytes:
    """The first `complete` records intact, then the next one cut after `keep` bytes."""
    start = records[complete]["offset"]
    member = data[start : start + records[complete]["length"]]
    raw = zlib.decompress(member, zlib.MAX_WBITS + 16)
    return data[:start] + _gzip_prefix(raw, keep)


def _payload_cut(data: bytes, record: dict) -> tuple[int, int]:
    """Where the HTTP body of `record` starts in its uncompressed bytes, and its length."""
    member = data[record["offset"] : record["offset"] + record["length"]]
    raw = zlib.decompress(member, zlib.MAX_WBITS + 16)
    body_start = raw.index(b"\r\n\r\n", raw.index(b"\r\n\r\n") + 4) + 4
    return body_start, len(raw) - 4 - body_start


def write(root: Path, seed: int) -> list[dict]:
    """Write demo.warc.gz and its truncated copies; one index entry per file."""
    folder = Path(root) / WARC_DIR
    (folder / "bad").mkdir(parents=True, exist_ok=True)
    data, records = build_warc(seed)
    (folder / "demo.warc.gz").write_bytes(data)
    entries = [{"path": f"{WARC_DIR}/demo.warc.gz", "kind": "warc", "records": records}]

    complete = 3
    cut_header = _truncated(data, records, complete, keep=len(b"WARC/1"))
    (folder / "bad" / "truncated.warc.gz").write_bytes(cut_header)
    entries.append(
        {
            "path": f"{WARC_DIR}/bad/truncated.warc.gz",
            "kind": "warc",
            "complete_records": complete,
            "cut": "record header",
            "raises": "warcio.exceptions.ArchiveLoadFailed",
        }
    )

    body_start, body_len = _payload_cut(data, records[complete])
    cut_body = _truncated(data, records, complete, keep=body_start + body_len // 2)
    (folder / "bad" / "truncated_payload.warc.gz").write_bytes(cut_body)
    entries.append(
        {
            "path": f"{WARC_DIR}/bad/truncated_payload.warc.gz",
            "kind": "warc",
            "complete_records": complete,
            "cut": "record payload",
            "short_record": {
                "url": records[complete]["url"],
                "declared_payload": body_len,
                "available_payload": body_len // 2,
            },
        }
    )
    return entries
