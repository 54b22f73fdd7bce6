"""The trading-site watcher: crawl a data-trading site's index pages for listings of waybill
records, and turn each new or changed listing into observations.

A site is described, not coded: start URLs, CSS selectors for the listing links, the next
page, the records and the sample files, and a regex that names a record's fields. One bad
page never stops a crawl; every failure is kept in the report with its reason.
"""

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from urllib.parse import urldefrag, urljoin

import httpx
import regex
import soupsieve
from bs4 import BeautifulSoup, Tag

from watchers.fetching import (
    FetchedPage,
    Fetcher,
    FetchError,
    FetchPolicy,
    IPNetwork,
    check_public_url,
)
from watchers.observations import FIELDS, Evidence, Observation, SourceKind

__all__ = [
    "CrawlError",
    "CrawlReport",
    "FetchedPage",  # re-exported: a listing's page and its sample files
    "Listing",
    "SiteCrawler",
    "SiteDefinition",
]

MiB = 1024 * 1024
# An observation's source id is the listing URL, and it holds at most this many characters.
MAX_URL_CHARS = 500
_INVISIBLE = ("script", "style", "noscript", "template")
_HEADER_VALUE = re.compile(r"[^\r\n\x00]*")
# A record_regex runs on text a hostile page chose, where catastrophic backtracking could pin
# a worker's CPU for ever (`re` cannot be stopped): `regex` can, so each text gets this much
# matching time and each page this much in all, and what was found before stays found.
REGEX_SECONDS_PER_TEXT = 0.5
REGEX_SECONDS_PER_PAGE = 5.0


def _check_url(url: str, what: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise ValueError(f"{what} {url!r} is not a URL: {error}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{what} {url!r} must be an http or https URL with a host")
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"{what} is longer than {MAX_URL_CHARS} characters")


def _check_selector(selector: str | None, what: str) -> None:
    if selector is None:
        return
    try:
        soupsieve.compile(selector)
    except soupsieve.SelectorSyntaxError as error:
        first_line = str(error).splitlines()[0]
        raise ValueError(f"{what} is not a valid CSS selector: {first_line}") from None


def _compile_record_regex(pattern: str) -> regex.Pattern[str]:
    # VERSION0 is the `re`-compatible syntax, pinned against a changed regex.DEFAULT_VERSION.
    return regex.compile(pattern, regex.VERSION0)


def _check_number(value: float, low: float, high: float, what: str) -> None:
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low:g} and {high:g}, not {value:g}")


@dataclass(frozen=True)
class SiteDefinition:
    """Where a trading site lists its data and how its pages show the records."""

    name: str
    start_urls: tuple[str, ...]  # index pages
    listing_links: str  # CSS selector of the <a>s to listing pages on an index page
    next_page: str | None = None  # CSS selector of the "next page" <a> on an index page
    max_pages: int = 20  # index pages followed per start URL
    max_listings: int = 500  # listings fetched per crawl
    record_selector: str | None = None  # each matching element's text is one record
    record_regex: str | None = None  # named groups among FIELDS, applied to each text
    attachment_links: str | None = None  # CSS selector of sample-file <a>s on a listing
    max_attachments: int = 5  # sample files fetched per listing
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    proxy: str | None = None
    requests_per_second: float = 1.0  # per host
    max_page_bytes: int = 5 * MiB
    max_attachment_bytes: int = 50 * MiB
    timeout_seconds: float = 30.0  # for a whole response, however slowly it trickles in
    retries: int = 3  # on 5xx, 429 and timeouts
    retry_backoff_seconds: float = 1.0  # the first retry's delay, doubled each time

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 200:
            raise ValueError("a site needs a name of 1 to 200 characters")
        object.__setattr__(self, "start_urls", tuple(self.start_urls))
        if not self.start_urls:
            raise ValueError("a site needs at least one start URL")
        for url in self.start_urls:
            _check_url(url, "start URL")
        _check_selector(self.listing_links, "listing_links")
        _check_selector(self.next_page, "next_page")
        _check_selector(self.record_selector, "record_selector")
        _check_selector(self.attachment_links, "attachment_links")
        if self.record_regex is not None:
            try:
                pattern = _compile_record_regex(self.record_regex)
            except regex.error as error:
                raise ValueError(f"record_regex is not a valid regex: {error}") from None
            names = set(pattern.groupindex)
            if not names:
                raise ValueError("record_regex needs named groups, e.g. (?P<mobile>...)")
            if names - FIELDS:
                unknown = ", ".join(sorted(names - FIELDS))
                known = ", ".join(sorted(FIELDS))
                raise ValueError(f"record_regex groups must be among {known}, not {unknown}")
        for key, value in (*self.headers.items(), *self.cookies.items()):
            if not key or not _HEADER_VALUE.fullmatch(key) or not _HEADER_VALUE.fullmatch(value):
                raise ValueError("header and cookie names and values must be one line of text")
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        object.__setattr__(self, "cookies", MappingProxyType(dict(self.cookies)))
        if self.proxy is not None:
            _check_url(self.proxy, "proxy")
        _check_number(self.max_pages, 1, 1000, "max_pages")
        _check_number(self.max_listings, 1, 100_000, "max_listings")
        _check_number(self.max_attachments, 0, 100, "max_attachments")
        _check_number(self.requests_per_second, 0.001, 100, "requests_per_second")
        _check_number(self.max_page_bytes, 1024, 100 * MiB, "max_page_bytes")
        _check_number(self.max_attachment_bytes, 1024, 1024 * MiB, "max_attachment_bytes")
        _check_number(self.timeout_seconds, 0.1, 600, "timeout_seconds")
        _check_number(self.retries, 0, 10, "retries")
        _check_number(self.retry_backoff_seconds, 0, 60, "retry_backoff_seconds")

    @property
    def policy(self) -> FetchPolicy:
        return FetchPolicy(
            headers=self.headers,
            cookies=self.cookies,
            requests_per_second=self.requests_per_second,
            timeout_seconds=self.timeout_seconds,
            retries=self.retries,
            backoff_seconds=self.retry_backoff_seconds,
        )


@dataclass(frozen=True)
class Listing:
    """A listing page as fetched this crawl, what it shows, and its sample files."""

    url: str
    page: FetchedPage
    records: list[dict[str, str]]  # from record_regex, FIELDS keys only
    texts: list[str]  # record_selector texts, else the page's visible text
    attachments: list[FetchedPage]  # sample files, for the dump scanner
    # False when record_regex ran out of time: the listing is read again at the next poll.
    complete: bool = True

    def observations(self) -> list[Observation]:
        """One per record and per text, all named by the listing URL, so a listing that
        changes is matched again but never makes two sightings of one canary. Sample files
        are not among them: the dump scanner reads those."""
        evidence = Evidence(self.page.body, self.page.content_type)
        context = {
            "url": self.url,
            "fetched_at": self.page.fetched_at.isoformat(),
            "sha256": self.page.sha256,
        }

        def observation(
            text: str | None = None, fields: Mapping[str, str] | None = None
        ) -> Observation:
            return Observation(
                SourceKind.SITE,
                self.url,
                self.page.fetched_at,
                text=text,
                fields=fields or {},
                evidence=evidence,
                context=context,
            )

        found = [observation(fields=record) for record in self.records if record]
        return found + [observation(text=text) for text in self.texts if text.strip()]

    def attachment_observation(self, page: FetchedPage, rows: int) -> Observation:
        """A sample file linked from the listing, once it has been read like a dump (`rows`
        rows). Named by the listing URL as its records are; like a dump, only its hash and
        the matched rows are kept (rule 5), never the file."""
        return Observation(
            SourceKind.SITE,
            self.url,
            page.fetched_at,
            text=f"sample file {page.final_url}",
            context={
                "url": self.url,
                "attachment_url": page.final_url,
                "fetched_at": page.fetched_at.isoformat(),
                "attachment_sha256": page.sha256,
                "rows": str(rows),
            },
        )


@dataclass(frozen=True)
class CrawlError:
    url: str
    reason: str
    stage: str  # "index", "listing" or "attachment"


@dataclass
class CrawlReport:
    site: str
    started_at: datetime
    finished_at: datetime | None = None
    pages_fetched: int = 0  # index and listing pages
    attachments_fetched: int = 0
    listings_seen: int = 0
    listings_changed: int = 0  # new or changed since the last crawl
    errors: list[CrawlError] = field(default_factory=list)
    # Listing URL -> sha256 of its page this crawl, for the next crawl's change detection.
    seen: dict[str, str] = field(default_factory=dict)


def _same_host(url: str, host: str) -> bool:
    try:
        return httpx.URL(url).host == host
    except httpx.InvalidURL:
        return False


def _links(soup: BeautifulSoup, selector: str, base: str, host: str) -> list[str]:
    """Absolute URLs of the selected <a>s on the page's own host, in page order, once."""
    found: dict[str, None] = {}
    for anchor in soup.select(selector):
        href = anchor.get("href")
        if not isinstance(href, str) or not href.strip():
            continue
        url = urldefrag(urljoin(base, href.strip())).url
        if url.startswith(("http://", "https://")) and _same_host(url, host):
            found[url] = None
    return list(found)


def _parse(page: FetchedPage) -> BeautifulSoup:
    return BeautifulSoup(page.text, "html.parser")


def _read_index(page: FetchedPage, site: SiteDefinition, host: str) -> tuple[list[str], str | None]:
    soup = _parse(page)
    listings = _links(soup, site.listing_links, page.final_url, host)
    following = _links(soup, site.next_page, page.final_url, host) if site.next_page else []
    return listings, (following[0] if following else None)


def _visible_text(soup: BeautifulSoup) -> str:
    for element in soup.find_all(_INVISIBLE):
        element.decompose()
    return soup.get_text("\n", strip=True)


def _element_text(element: Tag) -> str:
    return element.get_text(" ", strip=True)


def _read_listing(
    page: FetchedPage, site: SiteDefinition, host: str
) -> tuple[list[dict[str, str]], list[str], list[str], str | None]:
    """(records, texts, sample-file URLs, why the records may be incomplete) of a listing."""
    soup = _parse(page)
    attachments: list[str] = []
    if site.attachment_links and site.max_attachments:
        attachments = _links(soup, site.attachment_links, page.final_url, host)
    if site.record_selector:
        texts = [_element_text(element) for element in soup.select(site.record_selector)]
    else:
        texts = [_visible_text(soup)]
    records: list[dict[str, str]] = []
    regex_error = None
    if site.record_regex:
        records, regex_error = _records(_compile_record_regex(site.record_regex), texts)
    return records, texts, attachments[: site.max_attachments], regex_error


def _records(
    pattern: regex.Pattern[str], texts: list[str]
) -> tuple[list[dict[str, str]], str | None]:
    """The records the pattern finds in the texts within the time limits, and why it
    stopped short if it did (never quoting the page, which is the attacker's)."""
    records: list[dict[str, str]] = []
    timed_out = 0
    deadline = time.monotonic() + REGEX_SECONDS_PER_PAGE
    for done, text in enumerate(texts):
        left = deadline - time.monotonic()
        if left <= 0:
            return records, (
                f"record_regex timed out: the page's {REGEX_SECONDS_PER_PAGE:g} s ran out "
                f"after {done} of {len(texts)} texts; the records found are kept"
            )
        # concurrent: the GIL is let go while matching, so the event loop runs on meanwhile.
        matches = pattern.finditer(text, timeout=min(REGEX_SECONDS_PER_TEXT, left), concurrent=True)
        try:
            for match in matches:
                record = {k: v.strip() for k, v in match.groupdict().items() if v and v.strip()}
                if record:
                    records.append(record)
        except TimeoutError:
            timed_out += 1
    if timed_out:
        return records, (
            f"record_regex timed out on {timed_out} of {len(texts)} texts "
            f"({REGEX_SECONDS_PER_TEXT:g} s each); the records found are kept"
        )
    return records, None


class SiteCrawler:
    """Crawls sites through one shared client; its per-host pacing spans every crawl."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        allow_private: bool = False,
        allowed_networks: tuple[IPNetwork, ...] = (),
    ) -> None:
        self.client = client
        self.fetcher = Fetcher(allow_private=allow_private, allowed_networks=allowed_networks)

    async def crawl(
        self, site: SiteDefinition, seen: Mapping[str, str]
    ) -> tuple[list[Listing], CrawlReport]:
        """The listings that are new or changed since `seen` (URL -> page sha256)."""
        report = CrawlReport(site=site.name, started_at=datetime.now(UTC))
        if site.proxy is None:
            listings = await _Crawl(self.fetcher, self.client, site, report, pin=True).run(seen)
        else:
            # The proxy is where the connections go: it passes the same guard as a site.
            try:
                await check_public_url(
                    site.proxy,
                    allow_private=self.fetcher.allow_private,
                    allowed_networks=self.fetcher.allowed_networks,
                )
            except FetchError as error:
                report.errors.append(CrawlError(site.proxy, f"proxy refused: {error}", "index"))
                report.finished_at = datetime.now(UTC)
                return [], report
            # A proxy is a property of the client, so a proxied site gets its own.
            async with httpx.AsyncClient(
                proxy=site.proxy, follow_redirects=False, trust_env=False
            ) as client:
                listings = await _Crawl(self.fetcher, client, site, report, pin=False).run(seen)
        report.finished_at = datetime.now(UTC)
        return listings, report


@dataclass
class _Crawl:
    fetcher: Fetcher
    client: httpx.AsyncClient
    site: SiteDefinition
    report: CrawlReport
    pin: bool

    async def _fetch(self, url: str, stage: str) -> FetchedPage | None:
        attachment = stage == "attachment"
        cap = self.site.max_attachment_bytes if attachment else self.site.max_page_bytes
        try:
            page = await self.fetcher.fetch(
                self.client,
                url,
                self.site.policy,
                max_bytes=cap,
                html=not attachment,
                pin=self.pin,
            )
        except FetchError as error:
            self.report.errors.append(CrawlError(url, str(error), stage))
            return None
        if attachment:
            self.report.attachments_fetched += 1
        else:
            self.report.pages_fetched += 1
        return page

    async def run(self, seen: Mapping[str, str]) -> list[Listing]:
        urls: dict[str, str] = {}  # listing URL -> its host
        for start in self.site.start_urls:
            host = httpx.URL(start).host
            for url in await self._index(start, host):
                urls.setdefault(url, host)
        listings: list[Listing] = []
        for url, host in list(urls.items())[: self.site.max_listings]:
            listing = await self._listing(url, host, seen.get(url))
            if listing is not None:
                listings.append(listing)
        return listings

    async def _index(self, start: str, host: str) -> list[str]:
        found: dict[str, None] = {}
        url: str | None = start
        visited: set[str] = set()
        while url is not None and url not in visited and len(visited) < self.site.max_pages:
            visited.add(url)
            page = await self._fetch(url, "index")
            if page is None:
                break
            links, url = await asyncio.to_thread(_read_index, page, self.site, host)
            for link in links:
                if len(link) > MAX_URL_CHARS:
                    reason = f"listing URL longer than {MAX_URL_CHARS} characters"
                    self.report.errors.append(CrawlError(link[:MAX_URL_CHARS], reason, "index"))
                else:
                    found[link] = None
        return list(found)

    async def _listing(self, url: str, host: str, before: str | None) -> Listing | None:
        page = await self._fetch(url, "listing")
        if page is None:
            if before is not None:  # a passing failure does not make the listing new again
                self.report.seen[url] = before
            return None
        self.report.listings_seen += 1
        self.report.seen[url] = page.sha256
        if page.sha256 == before:
            return None
        self.report.listings_changed += 1
        records, texts, files, regex_error = await asyncio.to_thread(
            _read_listing, page, self.site, host
        )
        if regex_error is not None:
            self.report.errors.append(CrawlError(url, regex_error, "listing"))
        attachments = [a for a in [await self._fetch(f, "attachment") for f in files] if a]
        return Listing(url, page, records, texts, attachments, complete=regex_error is None)
