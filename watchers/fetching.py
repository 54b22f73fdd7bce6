"""Polite, bounded fetching from sites nobody here controls: trading sites, alert targets.

Every response is streamed against a byte cap and a whole-response deadline, so a huge page,
a decompression bomb or a server that drips one byte a second costs a bounded amount of
memory and time. Redirects are followed here, not by httpx, so that every hop passes the
SSRF guard, and each connection goes to an address the guard has checked (no second DNS
lookup an attacker's name server could answer differently).
"""

import asyncio
import codecs
import hashlib
import ipaddress
import random
import re
import socket
import time
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from urllib.parse import urldefrag, urljoin

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
# A Retry-After longer than this is not waited for: the next poll will come sooner.
MAX_RETRY_AFTER_SECONDS = 60.0
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# GBK and GB2312 pages are decoded as GB18030, their superset (as browsers do).
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030", "hz": "gb18030"}


class FetchError(Exception):
    """A URL that could not be fetched; the message says why, for a crawl report."""


class UnsafeURLError(FetchError):
    """A URL the SSRF guard refuses: not http(s), or a host that is not public."""


class _RetryableError(FetchError):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _address_kind(address: IPAddress) -> str | None:
    """What makes an address non-public, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 form that carries an IPv4 address is judged by the IPv4 address.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None:
            return _address_kind(embedded)
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "non-public"),
    )
    return next((kind for bad, kind in checks if bad), None)


async def check_public_url(
    url: str, *, allow_private: bool = False, allowed_networks: Collection[IPNetwork] = ()
) -> list[IPAddress]:
    """The addresses `url`'s host resolves to, if it is http(s) and every one is public.

    Raises UnsafeURLError otherwise (FetchError if the host does not resolve). Connect to
    one of the returned addresses rather than resolving again. `allow_private` lifts the
    address check (a lab set-up); `allowed_networks` lifts it for those networks only.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise UnsafeURLError(f"not a valid URL: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURLError(f"scheme {parsed.scheme or '(none)'!r} is not http or https")
    host = parsed.host
    if not host:
        raise UnsafeURLError("the URL has no host")
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as error:
            raise FetchError(f"cannot resolve {host}: {error}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            if any(address in network for network in allowed_networks):
                continue
            kind = _address_kind(address)
            if kind is not None:
                raise UnsafeURLError(f"{host} is a {kind} address ({address})")
    return addresses


def decode_page(body: bytes, content_type: str) -> str:
    """A page's text: a BOM, the header's charset, a <meta> charset, UTF-8, then GB18030;
    the first that decodes cleanly wins, and bad bytes are replaced rather than raised."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    labels = [_header_charset(content_type)]
    meta = _META_CHARSET.search(body[:4096])
    labels += [meta.group(1).decode("ascii") if meta else None, "utf-8", "gb18030"]
    candidates = list(dict.fromkeys(c for c in map(_codec, labels) if c is not None))
    for codec in candidates:
        try:
            return body.decode(codec)
        except UnicodeDecodeError:
            continue
    return body.decode(candidates[0], errors="replace")


def _header_charset(content_type: str) -> str | None:
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return None


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return _SUPERSETS.get(name, name)


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


@dataclass(frozen=True)
class FetchedPage:
    url: str  # as asked
    final_url: str  # after redirects
    status: int
    content_type: str
    fetched_at: datetime  # aware, UTC
    body: bytes
    sha256: str

    @cached_property
    def text(self) -> str:
        return decode_page(self.body, self.content_type)


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and how long to fetch from one site."""

    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    requests_per_second: float = 1.0
    timeout_seconds: float = 30.0
    retries: int = 3
    backoff_seconds: float = 1.0  # the first retry's delay; doubled each time, plus jitter


class HostPacer:
    """Spaces requests to each host by its site's rate, across every crawl sharing it.

    Each request reserves the next free slot and sleeps until it; nothing polls.
    """

    def __init__(self) -> None:
        self._next: dict[str, float] = {}

    async def wait(self, host: str, requests_per_second: float) -> None:
        now = time.monotonic()
        if len(self._next) > 1000:
            self._next = {h: t for h, t in self._next.items() if t > now}
        start = max(now, self._next.get(host, now))
        self._next[host] = start + 1 / requests_per_second
        if start > now:
            await asyncio.sleep(start - now)


class _Inflater:
    """Content-Encoding undone within a byte budget: a small gzip bomb stays small."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding not in ("", "identity"):
            raise FetchError(f"unsupported content encoding {encoding!r}")
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        """At most room + 1 bytes: one more than the room says the cap is exceeded."""
        if self._zlib is None:
            return data
        try:
            out = self._zlib.decompress(data, room + 1)
        except zlib.error as error:
            if self.encoding == "deflate" and not self._started:
                # Some servers send raw deflate without the zlib header.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                return self.feed(data, room)
            raise FetchError(f"bad {self.encoding} data: {error}") from None
        self._started = True
        return out

    def flush(self, room: int) -> bytes:
        return self._zlib.flush(room + 1) if self._zlib is not None else b""


class Fetcher:
    """GETs with retries, redirects checked hop by hop, byte caps and deadlines."""

    def __init__(
        self, *, allow_private: bool = False, allowed_networks: Collection[IPNetwork] = ()
    ) -> None:
        self.allow_private = allow_private
        self.allowed_networks = tuple(allowed_networks)
        self.pacer = HostPacer()

    async def fetch(
        self,
        client: httpx.AsyncClient,
        url: str,
        policy: FetchPolicy,
        *,
        max_bytes: int,
        html: bool,
        pin: bool = True,
    ) -> FetchedPage:
        """The page at `url`, or FetchError saying why not.

        `html` refuses anything but an HTML page; `pin` connects to the checked address
        (off behind a proxy, which resolves names itself).
        """
        attempt = 0
        while True:
            try:
                return await self._follow(client, url, policy, max_bytes, html, pin)
            except _RetryableError as error:
                if attempt >= policy.retries:
                    raise FetchError(f"{error} (gave up after {attempt + 1} attempts)") from None
                delay = policy.backoff_seconds * 2**attempt * (1 + random.random())  # noqa: S311
                if error.retry_after is not None:
                    delay = max(delay, min(error.retry_after, MAX_RETRY_AFTER_SECONDS))
                attempt += 1
                await asyncio.sleep(delay)

    async def _follow(
        self,
        client: httpx.AsyncClient,
        url: str,
        policy: FetchPolicy,
        max_bytes: int,
        html: bool,
        pin: bool,
    ) -> FetchedPage:
        first = httpx.URL(url)
        origin = (first.scheme, first.host, first.port)
        current, asked = url, {url}
        for _ in range(MAX_REDIRECTS + 1):
            addresses = await check_public_url(
                current,
                allow_private=self.allow_private,
                allowed_networks=self.allowed_networks,
            )
            target = httpx.URL(current)
            await self.pacer.wait(target.host, policy.requests_per_second)
            # The site's own headers and cookies go only to its own origin: never to another
            # host, another port, nor in clear text after a redirect from https.
            own = (target.scheme, target.host, target.port) == origin
            headers = {**policy.headers} if own else {}
            if own and policy.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in policy.cookies.items())
            headers["Accept-Encoding"] = "gzip, deflate"
            response = await self._get(
                client, target, addresses if pin else [], headers, policy, max_bytes, html
            )
            if isinstance(response, str):
                following = urldefrag(urljoin(current, response)).url
                if following in asked:
                    raise FetchError(f"redirect loop: {current} -> {following}")
                asked.add(following)
                current = following
                continue
            status, content_type, body = response
            return FetchedPage(
                url=url,
                final_url=current,
                status=status,
                content_type=content_type,
                fetched_at=datetime.now(UTC),
                body=body,
                sha256=hashlib.sha256(body).hexdigest(),
            )
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    async def _get(
        self,
        client: httpx.AsyncClient,
        target: httpx.URL,
        addresses: list[IPAddress],
        headers: dict[str, str],
        policy: FetchPolicy,
        max_bytes: int,
        html: bool,
    ) -> tuple[int, str, bytes] | str:
        """One request: (status, content type, body), or the Location of a redirect."""
        last: Exception | None = None
        candidates: list[IPAddress | None] = [*addresses] or [None]
        for address in candidates:
            request_url, extensions = target, dict[str, str]()
            if address is not None:
                request_url = target.copy_with(host=str(address))
                headers["Host"] = target.netloc.decode("ascii")
                if target.scheme == "https":
                    extensions = {"sni_hostname": target.host}
            try:
                async with asyncio.timeout(policy.timeout_seconds):
                    return await self._read(
                        client, request_url, headers, extensions, policy, max_bytes, html
                    )
            except httpx.ConnectError as error:
                last = error  # the next address the host resolves to may answer
            except (TimeoutError, httpx.TimeoutException):
                raise _RetryableError(
                    f"no complete response within {policy.timeout_seconds:g} s"
                ) from None
            except httpx.NetworkError as error:
                raise _RetryableError(f"network error: {type(error).__name__}") from None
            except httpx.HTTPError as error:
                # The type only: h11's messages quote the offending header, a site's cookie.
                raise FetchError(f"HTTP error: {type(error).__name__}") from None
        raise _RetryableError(f"cannot connect to {target.host}: {last!r}")

    async def _read(
        self,
        client: httpx.AsyncClient,
        url: httpx.URL,
        headers: dict[str, str],
        extensions: dict[str, str],
        policy: FetchPolicy,
        max_bytes: int,
        html: bool,
    ) -> tuple[int, str, bytes] | str:
        async with client.stream(
            "GET",
            url,
            headers=headers,
            extensions=extensions,
            follow_redirects=False,
            timeout=policy.timeout_seconds,
        ) as response:
            status = response.status_code
            if status in _REDIRECTS and "location" in response.headers:
                return response.headers["location"]
            if status == 429 or status >= 500:
                raise _RetryableError(f"HTTP {status}", _retry_after(response))
            if status >= 400:
                raise FetchError(f"HTTP {status}")
            content_type = response.headers.get("content-type", "")
            if html and content_type and media_type(content_type) not in HTML_TYPES:
                raise FetchError(f"not an HTML page: {media_type(content_type)}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"larger than the cap of {max_bytes} bytes ({declared} bytes)")
            inflater = _Inflater(response.headers.get("content-encoding", "").strip().lower())
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += inflater.feed(chunk, max_bytes - len(body))
                if len(body) > max_bytes:
                    raise FetchError(f"larger than the cap of {max_bytes} bytes")
            body += inflater.flush(max_bytes - len(body))
            if len(body) > max_bytes:
                raise FetchError(f"larger than the cap of {max_bytes} bytes")
        if html and not content_type and not bytes(body[:512]).lstrip().startswith(b"<"):
            raise FetchError("not an HTML page: no content type and no markup")
        return status, content_type, bytes(body)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
