"""Image fetching against a local HTTP server on 127.0.0.1. A guard refuses, and records, any
socket connection or name lookup that would leave loopback, so the refusal tests prove that no
traffic was even attempted towards private addresses."""

import http.server
import io
import ipaddress
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from typing import NamedTuple

import pytest
from PIL import Image

from corpusio.images import ImageData, ImageRejected, validate_image
from obelics_filter.fetch import (
    AddressPolicy,
    FetchError,
    FetchFailure,
    ImageFetcher,
    robots_tag_directives,
)


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height 1-bit pixels, with almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


_PICTURE = Image.linear_gradient("L").resize((320, 240)).convert("RGB")
JPEG = _encode(_PICTURE, "JPEG")
PNG = _encode(_PICTURE, "PNG")
BOMB = _bomb_png(30_000, 30_000)
TRUNCATED_JPEG = JPEG[: len(JPEG) // 2]
MAX_BYTES = 200_000
ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"


class Route(NamedTuple):
    status: int = 200
    body: bytes = b""
    headers: dict = {}
    send_length: bool = True
    delay: float = 0.0


def _image(body: bytes = JPEG, **headers) -> Route:
    kind = "image/png" if body.startswith(b"\x89PNG") else "image/jpeg"
    return Route(200, body, {"Content-Type": kind, **headers})


def _redirect(location: str) -> Route:
    return Route(302, b"", {"Location": location})


# Each route gets the 1-based count of requests for its path so far.
ROUTES = {
    "/robots.txt": lambda hit: Route(200, ROBOTS_TXT, {"Content-Type": "text/plain"}),
    "/good.jpg": lambda hit: _image(JPEG),
    "/good.png": lambda hit: _image(PNG),
    "/noai.jpg": lambda hit: _image(JPEG, **{"X-Robots-Tag": "noai"}),
    "/noindex.jpg": lambda hit: _image(JPEG, **{"X-Robots-Tag": "noindex, nofollow"}),
    "/other-bot-noai.jpg": lambda hit: _image(JPEG, **{"X-Robots-Tag": "otherbot: noai"}),
    "/private/secret.jpg": lambda hit: _image(JPEG),
    "/huge.jpg": lambda hit: Route(200, b"\xff" * (MAX_BYTES + 100_000), send_length=False),
    "/huge-declared.jpg": lambda hit: Route(200, b"\xff" * (MAX_BYTES + 1)),
    "/bomb.png": lambda hit: _image(BOMB),
    "/truncated.jpg": lambda hit: _image(TRUNCATED_JPEG),
    "/text.jpg": lambda hit: Route(200, b"<html>not an image</html>"),
    "/flaky.jpg": lambda hit: Route(500) if hit == 1 else _image(JPEG),
    "/busy.jpg": lambda hit: Route(429, headers={"Retry-After": "1"}) if hit == 1 else _image(),
    "/busy-long.jpg": lambda hit: Route(429, headers={"Retry-After": "3600"}),
    "/redirect.jpg": lambda hit: _redirect("/good.png"),
    "/loop.jpg": lambda hit: _redirect("/loop.jpg"),
    "/to-private.jpg": lambda hit: _redirect("http://10.0.0.1/x.jpg"),
    "/slow.jpg": lambda hit: Route(200, JPEG, delay=0.6),
    "/slowish.jpg": lambda hit: Route(200, JPEG, {"Content-Type": "image/jpeg"}, delay=0.15),
}


class LocalSite:
    """A threaded HTTP server on an ephemeral loopback port that records every request."""

    def __init__(self):
        self.requests: list[tuple[str, float]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"site": self})
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.server_port}{path}"

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def begin(self, path: str) -> int:
        with self._lock:
            self.requests.append((path, time.monotonic()))
            self._hits[path] += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return self._hits[path]

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    site: LocalSite

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        hit = self.site.begin(path)
        try:
            route = ROUTES[path](hit) if path in ROUTES else Route(404, b"missing")
            time.sleep(route.delay)
            self._send(route)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should past its size cap
        finally:
            self.site.end()

    def _send(self, route: Route) -> None:
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.send_length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        self.wfile.write(route.body)


class Guard:
    """Refuses and records any connect or name lookup that is not loopback."""

    def __init__(self):
        self.attempts: list[str] = []

    def is_loopback(self, host) -> bool:
        if host in ("localhost", "ip6-localhost"):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def check(self, what: str, host) -> None:
        if not self.is_loopback(host):
            self.attempts.append(f"{what} {host}")
            raise OSError(f"test guard: refused {what} to {host}")


@pytest.fixture(autouse=True)
def guard(monkeypatch):
    guard = Guard()
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def guarded_connect(sock, address):
        if isinstance(address, tuple):
            guard.check("connect", address[0])
        return connect(sock, address)

    def guarded_connect_ex(sock, address):
        if isinstance(address, tuple):
            guard.check("connect", address[0])
        return connect_ex(sock, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not guard.is_loopback(host):
            guard.attempts.append(f"getaddrinfo {host}")
            raise socket.gaierror(f"test guard: refused lookup of {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    return guard


@pytest.fixture
def site():
    site = LocalSite()
    yield site
    site.close()


def _fetcher(**overrides) -> ImageFetcher:
    settings = dict(
        allow_loopback=True,
        min_host_interval=0.0,
        backoff_base=0.01,
        connect_timeout=2.0,
        read_timeout=2.0,
        max_bytes=MAX_BYTES,
    )
    return ImageFetcher(**{**settings, **overrides})


def _reasons(results: dict) -> dict[str, str]:
    return {
        url: result.reason if isinstance(result, FetchFailure) else "ok"
        for url, result in results.items()
    }


# -- validate_image -------------------------------------------------------------------------


def test_validate_image_returns_real_size_and_format():
    jpeg = validate_image("u", JPEG)
    png = validate_image("u", PNG)
    assert (jpeg.width, jpeg.height, jpeg.format) == (320, 240, "jpeg")
    assert (png.width, png.height, png.format) == (320, 240, "png")
    assert jpeg.data == JPEG


@pytest.mark.parametrize(
    ("data", "limits", "reason"),
    [
        (BOMB, {}, "image_too_many_pixels"),  # over Pillow's own bomb limit
        (_bomb_png(9_000, 9_000), {}, "image_too_many_pixels"),  # over ours, before decoding
        (JPEG, {"max_pixels": 320 * 240 - 1}, "image_too_many_pixels"),
        (JPEG, {"max_bytes": len(JPEG) - 1}, "image_too_large_bytes"),
        (TRUNCATED_JPEG, {}, "image_truncated"),
        (b"GIF89a but not really", {}, "image_undecodable"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", {}, "image_undecodable"),
        (b"", {}, "image_undecodable"),
    ],
)
def test_validate_image_rejects(data, limits, reason):
    with pytest.raises(ImageRejected) as info:
        validate_image("u", data, **limits)
    assert info.value.reason == reason


def test_bomb_is_small_on_disk():
    assert len(BOMB) < 100


# -- fetching -------------------------------------------------------------------------------


def test_fetch_many_outcomes(site):
    expected = {
        "/good.jpg": "ok",
        "/good.png": "ok",
        "/redirect.jpg": "ok",
        "/flaky.jpg": "ok",
        "/other-bot-noai.jpg": "ok",
        "/noai.jpg": "robots_tag",
        "/noindex.jpg": "robots_tag",
        "/private/secret.jpg": "robots_txt",
        "/huge.jpg": "response_too_large",
        "/huge-declared.jpg": "response_too_large",
        "/bomb.png": "image_too_many_pixels",
        "/truncated.jpg": "image_truncated",
        "/text.jpg": "image_undecodable",
        "/loop.jpg": "too_many_redirects",
        "/missing.jpg": "http_error",
    }
    with _fetcher(max_workers=8, per_host_concurrency=4) as fetcher:
        results = fetcher.fetch_many(site.url(path) for path in expected)

    assert _reasons(results) == {site.url(path): reason for path, reason in expected.items()}
    redirected = results[site.url("/redirect.jpg")]
    assert isinstance(redirected, ImageData)
    assert (redirected.format, redirected.data) == ("png", PNG)
    assert redirected.url == site.url("/redirect.jpg")
    assert site.paths().count("/robots.txt") == 1
    assert "/private/secret.jpg" not in site.paths()
    assert site.paths().count("/flaky.jpg") == 2


def test_retry_after_is_honoured(site):
    with _fetcher() as fetcher:
        result = fetcher.fetch(site.url("/busy.jpg"))
    assert isinstance(result, ImageData)
    times = [when for path, when in site.requests if path == "/busy.jpg"]
    assert len(times) == 2
    assert times[1] - times[0] >= 0.95


def test_retry_after_beyond_cap_gives_up(site):
    with _fetcher(max_retry_after=5) as fetcher:
        result = fetcher.fetch(site.url("/busy-long.jpg"))
    assert result.reason == "rate_limited"
    assert site.paths().count("/busy-long.jpg") == 1


def test_read_timeout(site):
    with _fetcher(read_timeout=0.2, retries=1) as fetcher:
        result = fetcher.fetch(site.url("/slow.jpg"))
    assert result.reason == "timeout"
    assert site.paths().count("/slow.jpg") == 2


def test_requests_to_one_host_are_spaced(site):
    interval = 0.2
    urls = [site.url(f"/good.jpg?n={n}") for n in range(5)]
    with _fetcher(min_host_interval=interval, per_host_concurrency=4) as fetcher:
        results = fetcher.fetch_many(urls)
    assert all(isinstance(result, ImageData) for result in results.values())
    times = sorted(when for _, when in site.requests)
    assert len(times) == 6  # robots.txt once, then the five images
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) >= interval - 0.02


def test_concurrency_per_host_is_capped(site):
    urls = [site.url(f"/slowish.jpg?n={n}") for n in range(6)]
    with _fetcher(per_host_concurrency=2, max_workers=6) as fetcher:
        results = fetcher.fetch_many(urls)
    assert all(isinstance(result, ImageData) for result in results.values())
    assert site.max_in_flight == 2


class RecordingResolver:
    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def test_private_addresses_refused_before_any_connection(site, guard):
    resolver = RecordingResolver(
        {"mixed.test": ["127.0.0.1", "10.1.2.3"], "metadata.test": ["169.254.169.254"]}
    )
    urls = [
        "http://10.0.0.1/x.jpg",
        "http://192.168.1.1/",
        "http://172.16.5.4:8080/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/x.jpg",
        "http://[::ffff:10.0.0.1]/x.jpg",
        "http://[fd00::1]/x.jpg",
        "https://100.64.0.1/x.jpg",
        site.url("/good.jpg", host="mixed.test"),  # one loopback, one private answer
        "http://metadata.test/x.jpg",
    ]
    with _fetcher(resolver=resolver) as fetcher:
        results = fetcher.fetch_many(urls)
    assert set(_reasons(results).values()) == {"address_not_allowed"}
    assert guard.attempts == []
    assert site.requests == []
    assert sorted(set(resolver.asked)) == ["metadata.test", "mixed.test"]


def test_redirect_to_private_address_is_refused(site, guard):
    with _fetcher() as fetcher:
        result = fetcher.fetch(site.url("/to-private.jpg"))
    assert result.reason == "address_not_allowed"
    assert guard.attempts == []


def test_loopback_refused_unless_allowed(site, guard):
    urls = [site.url("/good.jpg"), site.url("/good.jpg", host="localhost")]
    with _fetcher(allow_loopback=False) as fetcher:
        results = fetcher.fetch_many(urls)
    assert set(_reasons(results).values()) == {"address_not_allowed"}
    assert site.requests == []
    assert guard.attempts == []


def test_dns_failure(guard):
    with _fetcher(resolver=RecordingResolver({})) as fetcher:
        result = fetcher.fetch("http://no-such-host.test/x.jpg")
    assert result.reason == "dns_error"
    assert guard.attempts == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/x.jpg", "unsupported_scheme"),
        ("file:///etc/passwd", "unsupported_scheme"),
        ("data:image/png;base64,iVBORw0KGgo=", "unsupported_scheme"),
        ("x.jpg", "unsupported_scheme"),
        ("http:///x.jpg", "invalid_url"),
        ("http://127.0.0.1:99999/x.jpg", "invalid_url"),
        ("http://127.0.0.1/a b.jpg", "invalid_url"),
    ],
)
def test_only_http_urls_are_fetched(url, reason):
    assert _fetcher().fetch(url).reason == reason


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "224.0.0.1",
        "233.1.2.3",
        "240.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "fe80::1",
        "fd00::1",
        "ff02::1",
        "::ffff:192.168.0.1",
        "2002:c0a8:101::1",  # 6to4 wrapping 192.168.1.1
    ],
)
def test_address_policy_refuses_non_public(address):
    assert not AddressPolicy(allow_loopback=True).allows(address)


def test_address_policy_loopback_and_public():
    strict, tests_only = AddressPolicy(), AddressPolicy(allow_loopback=True)
    for address in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert not strict.allows(address)
        assert tests_only.allows(address)
    for address in ("8.8.8.8", "2606:4700:4700::1111"):
        assert strict.allows(address)


def test_connected_peer_is_checked_again():
    class FakeSocket:
        closed = False

        def getpeername(self):
            return ("10.0.0.1", 80)

        def close(self):
            self.closed = True

    sock = FakeSocket()
    with pytest.raises(FetchError) as info:
        AddressPolicy(allow_loopback=True).check_connected(sock)
    assert info.value.reason == "address_not_allowed"
    assert sock.closed


def test_robots_tag_directives():
    agent = "vlm-corpus"
    assert robots_tag_directives(["noai, noimageai"], agent) == {"noai", "noimageai"}
    assert robots_tag_directives(["otherbot: noai"], agent) == set()
    assert robots_tag_directives(["VLM-Corpus: NoAI"], agent) == {"noai"}
    assert robots_tag_directives(["none", "noindex"], agent) == {"none", "noindex"}
    assert robots_tag_directives(["unavailable_after: 25 Jun 2030 15:00:00 PST"], agent) == {
        "unavailable_after: 25 jun 2030 15:00:00 pst"
    }
