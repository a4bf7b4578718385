"""Download the images of extracted documents politely and safely, keeping their bytes.

`ImageFetcher.fetch_many(urls)` returns, per URL, an `ImageData` (bytes that decoded fully,
see corpusio.images) or a `FetchFailure` whose snake_case reason is one of:

- unsupported_scheme, invalid_url: only http and https URLs with a host are fetched.
- dns_error: the host name did not resolve.
- address_not_allowed: the host resolves to, or the connection reached, an address that is
  not public (private, loopback, link-local, multicast, reserved, unspecified, shared).
- robots_txt: the origin's robots.txt disallows the path for our agent token.
- robots_tag: the image response carries an X-Robots-Tag directive we honour (below).
- rate_limited: HTTP 429 after the retries, or a Retry-After longer than we will wait.
- http_error: any other final status than 200, or a redirect without Location.
- too_many_redirects, timeout, connection_error, tls_error, response_too_large.
- image_*: the bytes arrived but were rejected by `validate_image`.
- unexpected_error: anything else, so that one odd URL does not fail a whole batch.

Opt-out signals (FetchConfig.refused_robots_tags). X-Robots-Tag `noai` and `noimageai` are
the AI-training opt-outs. `noindex`, `noimageindex` and `none` (which means noindex, nofollow)
are refused by default too: they ask that the resource not be stored in an index, and a
training corpus that keeps the bytes is closer to an index than to a one-off view; this also
matches img2dataset's defaults. Directives scoped to another agent (`otherbot: noai`) are
ignored. robots.txt follows RFC 9309: fetched once per origin (also for a failure), a 4xx
(other than 429) or more than five redirects means no rules, a 429 or 5xx means everything is
disallowed. A robots.txt that cannot be reached at all (DNS, refused address, timeout,
connection or TLS error) fails the URLs of that origin with the same reason. A Crawl-delay for
our agent slows that host down (capped).

Address checking happens inside the connection: urllib3's `_new_conn` is replaced so that the
host is resolved once, every resolved address is checked before any socket is opened, the
socket connects only to those checked addresses, and the peer address of the connected socket
is checked again. Redirects are followed here, one hop at a time, so every hop goes through
the same check; nothing resolves the name a second time between check and connect. urllib3
ignores proxy environment variables, so no proxy can bypass this. `allow_loopback` (tests
only) admits 127.0.0.0/8 and ::1 and never the private ranges.
"""

import dataclasses
import ipaddress
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    NewConnectionError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import connection

from corpusio.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    ImageData,
    ImageRejected,
    validate_image,
)

DEFAULT_USER_AGENT = "vlm-corpus image fetcher/0.1"
DEFAULT_ROBOTS_AGENT = "vlm-corpus"
DEFAULT_REFUSED_ROBOTS_TAGS = frozenset({"noai", "noimageai", "noindex", "noimageindex", "none"})
ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_ROBOTS_MAX_REDIRECTS = 5
# Failures to reach robots.txt that say the host itself cannot be fetched from.
_HOST_UNREACHABLE = frozenset(
    {"dns_error", "address_not_allowed", "connection_error", "timeout", "tls_error"}
)
_CHUNK = 64 * 1024
# X-Robots-Tag directives that take a value after a colon, so the colon names no agent.
_VALUED_DIRECTIVES = frozenset(
    {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
)


@dataclasses.dataclass(frozen=True)
class FetchFailure:
    """Why an image URL gave no bytes; `reason` is a stable snake_case key for counting."""

    url: str
    reason: str
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class FetchConfig:
    """Politeness, limits and safety settings; plain values so a pipeline can carry them."""

    user_agent: str = DEFAULT_USER_AGENT
    robots_agent: str = DEFAULT_ROBOTS_AGENT
    max_workers: int = 16
    per_host_concurrency: int = 2
    min_host_interval: float = 1.0
    max_crawl_delay: float = 10.0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    max_download_seconds: float = 30.0
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_robots_bytes: int = 512 * 1024
    retries: int = 2
    backoff_base: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    max_redirects: int = 3
    respect_robots_txt: bool = True
    refused_robots_tags: frozenset[str] = DEFAULT_REFUSED_ROBOTS_TAGS
    allow_loopback: bool = False


class FetchError(Exception):
    """A fetch that stops for a known reason; becomes a FetchFailure at the top."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host, in its order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class AddressPolicy:
    """Decides which IP addresses may be connected to, and resolves names under that rule."""

    def __init__(self, allow_loopback: bool = False, resolver: Resolver | None = None):
        self.allow_loopback = allow_loopback
        self._resolver = resolver or system_resolver

    def allows(self, address: str) -> bool:
        ip = _unwrap_ipv4(ipaddress.ip_address(address.split("%")[0]))
        if ip.is_loopback:
            return self.allow_loopback
        forbidden = (
            ip.is_private
            or ip.is_link_local
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
        )
        return ip.is_global and not forbidden

    def resolve(self, host: str, port: int) -> list[str]:
        """Addresses to connect to; raises unless every one of them is allowed."""
        host = host.strip("[]")
        addresses = _literal_address(host) or self._lookup(host, port)
        refused = [address for address in addresses if not self.allows(address)]
        if refused:
            raise FetchError("address_not_allowed", f"{host} -> {', '.join(refused)}")
        return addresses

    def check_connected(self, sock: socket.socket) -> None:
        """Refuse a socket whose peer is not allowed, whatever the name resolved to."""
        peer = sock.getpeername()[0]
        if not self.allows(peer):
            sock.close()
            raise FetchError("address_not_allowed", f"connected to {peer}")

    def _lookup(self, host: str, port: int) -> list[str]:
        try:
            addresses = self._resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchError("dns_error", f"{host}: {exc}") from exc
        if not addresses:
            raise FetchError("dns_error", f"{host}: no address")
        return addresses


def _literal_address(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return []


def _unwrap_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address inside an IPv4-mapped or 6to4 IPv6 address, which is what is reached."""
    if ip.version == 6:
        return ip.ipv4_mapped or ip.sixtofour or ip
    return ip


class _GuardedConnection:
    """Mixed into urllib3 connections: resolve, check, connect to checked addresses only."""

    address_policy: AddressPolicy

    def _new_conn(self) -> socket.socket:
        addresses = self.address_policy.resolve(self._dns_host, self.port)
        error: OSError | None = None
        for address in addresses:
            try:
                sock = connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"connect to {address} timed out") from exc
            except OSError as exc:
                error = exc
                continue
            self.address_policy.check_connected(sock)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


def _guarded_pool_manager(policy: AddressPolicy, maxsize: int) -> PoolManager:
    """A PoolManager whose every new connection goes through `policy`."""

    class Connection(_GuardedConnection, HTTPConnection):
        address_policy = policy

    class SecureConnection(_GuardedConnection, HTTPSConnection):
        address_policy = policy

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    manager = PoolManager(num_pools=256, maxsize=maxsize)
    manager.pool_classes_by_scheme = {"http": Pool, "https": SecurePool}
    return manager


class HostGate:
    """Per-host politeness: requests to one host start at least an interval apart, and at
    most `concurrency` of them run at once. Retries and robots.txt count like any request."""

    def __init__(self, interval: float, concurrency: int):
        self._interval = interval
        self._lock = threading.Lock()
        self._next_start: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._slots = defaultdict(lambda: threading.BoundedSemaphore(concurrency))

    @contextmanager
    def slot(self, host: str):
        with self._lock:
            semaphore = self._slots[host]
        with semaphore:
            time.sleep(self._reserve_start(host))
            yield

    def defer(self, host: str, seconds: float) -> None:
        """Hold every request to host back for `seconds` (the host said it is overloaded)."""
        with self._lock:
            resume = time.monotonic() + seconds
            self._next_start[host] = max(self._next_start.get(host, 0.0), resume)

    def slow_down(self, host: str, interval: float) -> None:
        with self._lock:
            self._intervals[host] = max(self._intervals.get(host, self._interval), interval)

    def _reserve_start(self, host: str) -> float:
        """Book the next start time for host; returns how long to wait for it."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, 0.0))
            self._next_start[host] = start + self._intervals.get(host, self._interval)
            return start - now


class _OnceCache:
    """Computes a value once per key even when many threads ask at the same time."""

    def __init__(self, compute: Callable[[str], object]):
        self._compute = compute
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._values: dict[str, object] = {}

    def get(self, key: str):
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._values:
                self._values[key] = self._compute(key)
            return self._values[key]


class _Reply(NamedTuple):
    status: int
    headers: object  # urllib3 HTTPHeaderDict
    body: bytes


def robots_tag_directives(values: Iterable[str], agent: str) -> set[str]:
    """X-Robots-Tag directives (lower-case) that apply to `agent`: unscoped ones and those
    in a value that starts with `agent:`."""
    directives: set[str] = set()
    for value in values:
        scope, colon, rest = value.partition(":")
        if colon and "," not in scope and scope.strip().lower() not in _VALUED_DIRECTIVES:
            if scope.strip().lower() != agent.lower():
                continue
            value = rest
        directives |= {part.strip().lower() for part in value.split(",") if part.strip()}
    return directives


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _split_http_url(url: str):
    """urlsplit, refusing anything that is not an http(s) URL with a host."""
    if any(ord(char) <= 32 or ord(char) == 127 for char in url):
        raise FetchError("invalid_url", "whitespace or control character")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise FetchError("invalid_url", str(exc)) from exc
    if parts.scheme not in ("http", "https"):
        raise FetchError("unsupported_scheme", parts.scheme or "no scheme")
    if not parts.hostname:
        raise FetchError("invalid_url", "no host")
    return parts


def _origin(url: str) -> str:
    parts = _split_http_url(url)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _transport_failure(exc: HTTPError) -> FetchError:
    if isinstance(exc, SSLError):
        return FetchError("tls_error", str(exc))
    if isinstance(exc, LocationValueError):
        return FetchError("invalid_url", str(exc))
    if isinstance(exc, Urllib3Timeout) and not isinstance(exc, NewConnectionError):
        return FetchError("timeout", str(exc))
    return FetchError("connection_error", str(exc))


def _read_capped(response, limit: int, deadline: float, truncate: bool) -> tuple[bytes, bool]:
    """Read at most `limit` bytes; returns (body, read_to_the_end). Past the limit, either
    keep the first `limit` bytes (truncate) or fail without reading further."""
    declared = response.headers.get("Content-Length", "")
    if not truncate and declared.isdigit() and int(declared) > limit:
        raise FetchError("response_too_large", f"Content-Length {declared} > {limit}")
    body = bytearray()
    for chunk in response.stream(_CHUNK):
        body += chunk
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit]), False
            raise FetchError("response_too_large", f"more than {limit} bytes")
        if time.monotonic() > deadline:
            raise FetchError("timeout", "download took too long")
    return bytes(body), True


class ImageFetcher:
    """Fetches image URLs with a thread pool under per-host limits, opt-outs and address
    checks. Build one per worker (it holds sockets and locks, so it does not pickle)."""

    def __init__(
        self,
        config: FetchConfig | None = None,
        *,
        resolver: Resolver | None = None,
        **overrides,
    ):
        self.config = dataclasses.replace(config or FetchConfig(), **overrides)
        cfg = self.config
        self.address_policy = AddressPolicy(cfg.allow_loopback, resolver)
        self._pool = _guarded_pool_manager(self.address_policy, cfg.per_host_concurrency)
        self._gate = HostGate(cfg.min_host_interval, cfg.per_host_concurrency)
        self._robots = _OnceCache(self._load_robots)
        self._timeout = Timeout(connect=cfg.connect_timeout, read=cfg.read_timeout)
        self._headers = {
            "User-Agent": cfg.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "identity",
        }

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        self._pool.clear()

    def fetch_many(self, urls: Iterable[str]) -> dict[str, ImageData | FetchFailure]:
        """Fetch each distinct URL once; hosts are interleaved so one slow host does not
        hold every worker."""
        ordered = _interleave_by_host(dict.fromkeys(urls))
        with ThreadPoolExecutor(max_workers=self.config.max_workers) as pool:
            results = pool.map(self.fetch, ordered)
            return dict(zip(ordered, results, strict=True))

    def fetch(self, url: str) -> ImageData | FetchFailure:
        try:
            return validate_image(
                url,
                self._download(url),
                max_pixels=self.config.max_pixels,
                max_bytes=self.config.max_bytes,
            )
        except (FetchError, ImageRejected) as exc:
            return FetchFailure(url, exc.reason, exc.detail)
        except Exception as exc:  # one odd URL must not lose the rest of the batch
            return FetchFailure(url, "unexpected_error", f"{type(exc).__name__}: {exc}")

    def _download(self, url: str) -> bytes:
        reply = self._follow(
            url,
            max_bytes=self.config.max_bytes,
            max_redirects=self.config.max_redirects,
            check_robots=self.config.respect_robots_txt,
            check_headers=self._check_robots_tag,
        )
        if reply.status == 429:
            raise FetchError("rate_limited", "HTTP 429")
        if reply.status != 200:
            raise FetchError("http_error", f"HTTP {reply.status}")
        return reply.body

    def _follow(
        self,
        url: str,
        *,
        max_bytes: int,
        max_redirects: int,
        check_robots: bool,
        check_headers: Callable | None = None,
        truncate: bool = False,
    ) -> _Reply:
        """GET url, following redirects one hop at a time so each hop is checked afresh."""
        for _ in range(max_redirects + 1):
            _split_http_url(url)
            if check_robots:
                self._check_robots_txt(url)
            reply = self._exchange(url, max_bytes, check_headers, truncate)
            if reply.status not in _REDIRECT_STATUSES:
                return reply
            location = reply.headers.get("Location")
            if not location:
                raise FetchError("http_error", f"HTTP {reply.status} without Location")
            url = urljoin(url, location.strip()).split("#")[0]
        raise FetchError("too_many_redirects", f"more than {max_redirects}")

    def _exchange(self, url, max_bytes, check_headers, truncate) -> _Reply:
        """One request through the host gate, retried on 429, 5xx and transport errors."""
        host = urlsplit(url).hostname
        attempt = 0
        while True:
            last_try = attempt >= self.config.retries
            try:
                with self._gate.slot(host):
                    reply = self._exchange_once(url, max_bytes, check_headers, truncate)
            except HTTPError as exc:
                failure = _transport_failure(exc)
                if last_try or failure.reason in ("tls_error", "invalid_url"):
                    raise failure from exc
                delay = self._backoff(attempt)
            else:
                if reply.status not in _RETRY_STATUSES or last_try:
                    return reply
                delay = self._retry_delay(attempt, reply)
                if reply.status == 429:
                    self._gate.defer(host, delay)
            attempt += 1
            time.sleep(delay)

    def _exchange_once(self, url, max_bytes, check_headers, truncate) -> _Reply:
        deadline = time.monotonic() + self.config.max_download_seconds
        response = self._pool.urlopen(
            "GET",
            url,
            headers=self._headers,
            redirect=False,
            retries=False,
            preload_content=False,
            timeout=self._timeout,
        )
        read_to_end = False
        try:
            body = b""
            if response.status == 200:
                if check_headers:
                    check_headers(response.headers)
                body, read_to_end = _read_capped(response, max_bytes, deadline, truncate)
            return _Reply(response.status, response.headers, body)
        finally:
            if not read_to_end:
                response.close()  # unread bytes would corrupt the next reply on this socket
            response.release_conn()

    def _backoff(self, attempt: int) -> float:
        return min(self.config.max_backoff, self.config.backoff_base * 2**attempt)

    def _retry_delay(self, attempt: int, reply: _Reply) -> float:
        """Backoff, or the server's Retry-After when longer; refuse to wait past the cap."""
        wait = _retry_after_seconds(reply.headers.get("Retry-After"))
        if wait is None:
            return self._backoff(attempt)
        if wait > self.config.max_retry_after:
            reason = "rate_limited" if reply.status == 429 else "http_error"
            raise FetchError(reason, f"HTTP {reply.status}, Retry-After {wait:.0f}s")
        return max(wait, self._backoff(attempt))

    def _check_robots_tag(self, headers) -> None:
        values = headers.getlist("X-Robots-Tag")
        directives = robots_tag_directives(values, self.config.robots_agent)
        refused = directives & self.config.refused_robots_tags
        if refused:
            raise FetchError("robots_tag", ", ".join(sorted(refused)))

    def _check_robots_txt(self, url: str) -> None:
        outcome = self._robots.get(_origin(url))
        if isinstance(outcome, FetchError):
            raise FetchError(outcome.reason, f"robots.txt: {outcome.detail}")
        if not outcome.can_fetch(self.config.robots_agent, url):
            raise FetchError("robots_txt", f"disallowed for {self.config.robots_agent}")

    def _load_robots(self, origin: str) -> RobotFileParser | FetchError:
        """The origin's rules per RFC 9309; a failure to reach it is kept as the outcome."""
        parser = RobotFileParser(origin + "/robots.txt")
        try:
            reply = self._follow(
                origin + "/robots.txt",
                max_bytes=self.config.max_robots_bytes,
                max_redirects=_ROBOTS_MAX_REDIRECTS,
                check_robots=False,
                truncate=True,
            )
        except FetchError as exc:
            if exc.reason in _HOST_UNREACHABLE:
                return exc
            no_file = exc.reason in ("too_many_redirects", "unsupported_scheme", "invalid_url")
            reply = _Reply(404 if no_file else 503, {}, b"")
        if reply.status == 200:
            parser.parse(reply.body.decode("utf-8", errors="replace").splitlines())
            self._apply_crawl_delay(origin, parser)
        elif 400 <= reply.status < 500 and reply.status != 429:
            parser.allow_all = True
        else:
            parser.disallow_all = True
        return parser

    def _apply_crawl_delay(self, origin: str, parser: RobotFileParser) -> None:
        delay = parser.crawl_delay(self.config.robots_agent)
        if delay:
            host = urlsplit(origin).hostname
            self._gate.slow_down(host, min(float(delay), self.config.max_crawl_delay))


def _interleave_by_host(urls: Iterable[str]) -> list[str]:
    """Round-robin over hosts, keeping each host's URLs in their order."""
    queues: dict[str, deque[str]] = defaultdict(deque)
    for url in urls:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        queues[host].append(url)
    ordered: list[str] = []
    while queues:
        for host in list(queues):
            ordered.append(queues[host].popleft())
            if not queues[host]:
                del queues[host]
    return ordered
