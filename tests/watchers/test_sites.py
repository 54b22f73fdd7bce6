"""The trading-site watcher against a fake trading site served over HTTP on loopback.

A crawl follows the market's pages, reads every listing's masked sample records, fetches
the sample files, and hands over observations in which planted canaries are found. Bad
pages (503s, huge, redirect loops, slow-loris, not HTML, a gzip bomb) each end as an error
in the report, in bounded time, while the good listings still come back.
"""

import asyncio
import codecs
import hashlib
import ipaddress
import random
import re
import time
import uuid
from collections.abc import Iterator
from datetime import date
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from canaries.couriers import Courier
from canaries.index import CanaryIndex, entry_of
from canaries.matching import Matcher
from canaries.mint import LinkProfile, MintedCanary, Minter
from tests.fakesite import (
    FakeListing,
    Record,
    Trouble,
    make_fake_proxy,
    make_fake_site,
    masked,
)
from tests.loopback import serving
from watchers import sites
from watchers.fetching import UnsafeURLError, check_public_url, decode_page
from watchers.observations import SourceKind
from watchers.sites import CrawlReport, Listing, SiteCrawler, SiteDefinition

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
RECORD = (
    r"^(?P<name>\S+) (?P<mobile>1[3-9][0-9]\*{4}[0-9]{4}) (?P<address>.+) "
    r"(?P<waybill_no>[0-9A-Z]{10,20})$"
)
# Two ways to read each digit: refusing n digits and a "!" takes 2**n tries. (`regex` itself
# cuts short the textbook (a+)+b, so the test needs a pattern it does not see through.)
CARELESS = (
    r"^(?P<name>\S+) (?P<mobile>1[3-9][0-9]\*{4}[0-9]{4}) (?P<address>.+) "
    r"(?P<waybill_no>(?:\d|\d)+)$"
)
LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)


@cache
def _canaries() -> tuple[
    list[MintedCanary], list[MintedCanary], CanaryIndex, dict[bytes, MintedCanary]
]:
    """Three hundred indexed canaries, and strangers minted alike but never indexed."""
    profile = LinkProfile(Courier.ZTO, window=WINDOW)
    canaries = Minter(profile, random.Random(7), control_share=0).mint(300)
    strangers = Minter(profile, random.Random(8), control_share=0).mint(60)
    index = CanaryIndex()
    ids = [uuid.UUID(int=random.Random(i).getrandbits(128)) for i in range(len(canaries))]
    index.add(entry_of(c, i) for c, i in zip(canaries, ids, strict=True))
    index.merge()
    return canaries, strangers, index, {i.bytes: c for c, i in zip(canaries, ids, strict=True)}


def _record(person: MintedCanary) -> Record:
    return {
        "name": person.name,
        "mobile": person.mobile,
        "address": person.province + person.city + person.district + person.address,
        "waybill_no": person.waybill_no,
    }


def _strangers(start: int, count: int) -> list[Record]:
    return [_record(s) for s in _canaries()[1][start : start + count]]


def _site(base: str, **overrides: Any) -> SiteDefinition:
    settings: dict[str, Any] = {
        "name": "fake market",
        "start_urls": (f"{base}/market?page=1",),
        "listing_links": "div.item a.item-link",
        "next_page": 'div.pager a:-soup-contains("下一页")',
        "record_selector": "table.sample tbody tr",
        "record_regex": RECORD,
        "attachment_links": "a.sample-file",
        "requests_per_second": 100,
        "timeout_seconds": 2,
        "retries": 2,
        "retry_backoff_seconds": 0.01,
    }
    return SiteDefinition(**(settings | overrides))


def _crawl(
    site: SiteDefinition, seen: dict[str, str] | None = None, **crawler: Any
) -> tuple[list[Listing], CrawlReport]:
    async def run() -> tuple[list[Listing], CrawlReport]:
        async with httpx.AsyncClient() as client:
            return await SiteCrawler(client, **crawler).crawl(site, seen or {})

    return asyncio.run(run())


@pytest.fixture
def market() -> list[FakeListing]:
    return [FakeListing(i, _strangers(5 * i, 5)) for i in range(1, 8)]


@pytest.fixture
def fake_app(market: list[FakeListing]) -> FastAPI:
    return make_fake_site(market)


@pytest.fixture
def base(fake_app: FastAPI) -> Iterator[str]:
    with serving(fake_app) as url:
        yield url


def test_a_crawl_follows_the_pages_and_reads_every_listing(
    market: list[FakeListing], base: str
) -> None:
    market[1].sample = "txt"
    market[2].sample = None
    market[3].gzip = True
    listings, report = _crawl(_site(base), allow_private=True)
    assert report.errors == []
    assert [x.url for x in listings] == [f"{base}/item/{i}" for i in range(1, 8)]
    # Three index pages of three listings, the ad off the site never fetched.
    assert report.pages_fetched == 3 + 7 and report.attachments_fetched == 6
    assert report.listings_seen == report.listings_changed == 7
    assert report.finished_at is not None and report.finished_at >= report.started_at
    for fake, listing in zip(market, listings, strict=True):
        assert listing.records == [masked(r) for r in fake.records]
        assert len(listing.texts) == 5 and fake.records[0]["waybill_no"] in listing.texts[0]
        assert listing.page.status == 200 and listing.page.final_url == listing.url
        assert report.seen[listing.url] == listing.page.sha256
    assert "快递单号数据" in listings[3].page.text  # gzipped on the wire, inflated here
    csv = listings[0].attachments[0]
    assert csv.url == f"{base}/item/1/sample.csv" and csv.content_type.startswith("text/csv")
    assert csv.body.startswith(codecs.BOM_UTF8 + "姓名,手机".encode())
    assert listings[1].attachments[0].body.decode().count("----") == 5 * 3
    assert listings[2].attachments == []


def test_without_a_record_selector_the_page_text_is_one_observation(base: str) -> None:
    listings, _ = _crawl(
        _site(base, record_selector=None, record_regex=None, attachment_links=None),
        allow_private=True,
    )
    first = listings[0]
    assert first.records == [] and first.attachments == []
    [text] = first.texts
    assert "0.3元/条" in text and "var uid" not in text and "td{" not in text
    [observation] = first.observations()
    assert observation.text == text and not observation.fields


def test_canaries_planted_on_listings_are_found_in_the_observations(
    market: list[FakeListing], base: str
) -> None:
    canaries, _, index, by_id = _canaries()
    planted = {2: canaries[10], 5: canaries[150], 7: canaries[299]}
    for item, canary in planted.items():
        market[item - 1].records.insert(2, _record(canary))
    listings, _ = _crawl(_site(base), allow_private=True)
    matcher = Matcher(index)
    found: dict[str, set[str]] = {}
    for listing in listings:
        observations = listing.observations()
        assert len(observations) == len(listing.records) + len(listing.texts)
        for observation in observations:
            assert observation.kind is SourceKind.SITE and observation.source_id == listing.url
            assert observation.observed_at == listing.page.fetched_at
            assert observation.evidence is not None
            assert observation.evidence.content == listing.page.body
            assert observation.evidence.sha256 == hashlib.sha256(listing.page.body).hexdigest()
            assert observation.context["sha256"] == listing.page.sha256
            assert observation.context["url"] == listing.url
            matches = [m for _, m in matcher.match_records([observation.fields])]
            if observation.text:
                matches += [m for _, m in matcher.match_text(observation.text)]
            for match in matches:
                found.setdefault(listing.url, set()).add(by_id[match.canary.id].waybill_no)
    assert found == {f"{base}/item/{i}": {c.waybill_no} for i, c in planted.items()}


def test_a_second_crawl_returns_only_new_or_changed_listings(
    market: list[FakeListing], base: str
) -> None:
    site = _site(base)
    first, report = _crawl(site, allow_private=True)
    assert len(first) == 7
    again, second = _crawl(site, report.seen, allow_private=True)
    assert again == [] and second.listings_seen == 7 and second.listings_changed == 0
    assert second.seen == report.seen
    market[3].records.append(_strangers(50, 1)[0])
    market.append(FakeListing(8, _strangers(55, 2)))
    changed, third = _crawl(site, second.seen, allow_private=True)
    assert [x.url for x in changed] == [f"{base}/item/4", f"{base}/item/8"]
    assert (
        third.listings_changed == 2
        and third.seen[f"{base}/item/4"] != report.seen[f"{base}/item/4"]
    )
    # The same listing keeps its source id when it changes, so no canary is seen twice.
    assert {o.source_id for o in changed[0].observations()} == {f"{base}/item/4"}


def test_bad_pages_are_errors_and_the_good_listings_still_come_back() -> None:
    records = _strangers(0, 3)
    market = [
        FakeListing(1, records),
        FakeListing(2, records, trouble=Trouble.FLAKY, fail_times=2),
        FakeListing(3, records, trouble=Trouble.FLAKY, fail_times=100),
        FakeListing(4, records, trouble=Trouble.HUGE),
        FakeListing(5, records, trouble=Trouble.GZIP_BOMB),
        FakeListing(6, records, trouble=Trouble.REDIRECT_LOOP),
        FakeListing(7, records, trouble=Trouble.REDIRECT_CHAIN),
        FakeListing(8, records, trouble=Trouble.SLOW_LORIS),
        FakeListing(9, records, trouble=Trouble.NOT_HTML),
        FakeListing(10, records),
    ]
    app = make_fake_site(market, drip_seconds=0.2)
    with serving(app) as base:
        site = _site(base, max_page_bytes=256 * 1024, timeout_seconds=1, retries=2)
        started = time.monotonic()
        listings, report = _crawl(site, allow_private=True)
        elapsed = time.monotonic() - started
    assert [x.url for x in listings] == [f"{base}/item/{i}" for i in (1, 2, 10)]
    assert app.state.requests["/item/2"] == 3  # two 503s, then the page
    reasons = {e.url.removeprefix(base): e.reason for e in report.errors}
    assert reasons == {
        "/item/3": "HTTP 503 (gave up after 3 attempts)",
        "/item/4": "larger than the cap of 262144 bytes",
        "/item/5": "larger than the cap of 262144 bytes",
        "/item/6": f"redirect loop: {base}/item/6?hop=2 -> {base}/item/6",
        "/item/7": "more than 5 redirects",
        "/item/8": "no complete response within 1 s (gave up after 3 attempts)",
        "/item/9": "not an HTML page: application/pdf",
    }
    assert {e.stage for e in report.errors} == {"listing"}
    # The slow-loris page alone costs three one-second deadlines; nothing waits longer.
    assert elapsed < 8
    assert report.seen.keys() == {f"{base}/item/{i}" for i in (1, 2, 10)}


def test_a_failed_listing_keeps_its_last_hash_so_it_is_not_new_next_time(
    market: list[FakeListing], base: str
) -> None:
    site = _site(base, retries=0)
    _, report = _crawl(site, allow_private=True)
    market[0].trouble, market[0].fail_times = Trouble.FLAKY, 1_000_000
    listings, second = _crawl(site, report.seen, allow_private=True)
    assert listings == [] and [e.url for e in second.errors] == [f"{base}/item/1"]
    assert second.seen == report.seen


def test_gbk_listings_are_decoded_from_the_header_or_the_meta_tag() -> None:
    records = _strangers(0, 4)
    market = [
        FakeListing(1, records, encoding="gbk", charset_in_header=True),
        FakeListing(2, records, encoding="gbk", charset_in_header=False, gzip=True),
        FakeListing(3, records, encoding="gb18030", charset_in_header=False),
    ]
    with serving(make_fake_site(market)) as base:
        listings, report = _crawl(_site(base), allow_private=True)
    assert report.errors == []
    for listing in listings:
        assert listing.page.body.decode("gb18030").encode("gb18030") == listing.page.body
        assert "快递单号数据" in listing.page.text
        assert listing.records == [masked(r) for r in records]
    assert listings[1].page.content_type == "text/html"
    sample = listings[0].attachments[0]
    assert sample.body.decode("gbk").startswith("姓名,手机,收货地址,快递单号")


def test_pages_decode_without_raising_on_bad_bytes() -> None:
    text = "单号 78446844694344 肖*辉"
    assert decode_page(text.encode("gbk"), "text/html") == text
    assert decode_page(text.encode("utf-8"), "text/html; charset=gbk") == text
    assert decode_page(codecs.BOM_UTF8 + text.encode(), "text/html; charset=gbk") == text
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset=GB2312">{text}'
    assert decode_page(meta.encode("gbk"), "text/html; charset=nonsense") == meta
    broken = decode_page(b"\x80\xff" + "好".encode(), "text/html; charset=utf-8")
    assert broken.endswith("好") and "\ufffd" in broken  # UTF-8 declared, bytes replaced


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file' is not http or https"),
        ("gopher://example.com/", "scheme 'gopher'"),
        ("http://127.0.0.1:8000/", "loopback"),
        ("http://localhost/", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 written as one number
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("https://192.168.1.1/admin", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "non-public"),  # carrier-grade NAT
    ],
)
def test_the_ssrf_guard_refuses_what_is_not_public(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURLError, match=reason.replace("(", r"\(")):
        asyncio.run(check_public_url(url))


def test_the_ssrf_guard_passes_public_addresses_and_what_is_allowed() -> None:
    found = asyncio.run(check_public_url("https://8.8.8.8/dns-query"))
    assert found == [ipaddress.ip_address("8.8.8.8")]
    assert asyncio.run(check_public_url("http://10.0.0.1/", allow_private=True))
    assert asyncio.run(check_public_url("http://127.0.0.1/", allowed_networks=LOOPBACK_ONLY))
    with pytest.raises(UnsafeURLError, match="scheme"):
        asyncio.run(check_public_url("file:///etc/passwd", allow_private=True))


def test_a_crawl_refuses_loopback_unless_allowed(fake_app: FastAPI, base: str) -> None:
    listings, report = _crawl(_site(base))
    assert listings == [] and report.pages_fetched == 0
    [error] = report.errors
    assert error.url == f"{base}/market?page=1" and error.stage == "index"
    assert error.reason == "127.0.0.1 is a loopback address (127.0.0.1)"
    assert sum(fake_app.state.requests.values()) == 0


def test_redirects_to_private_addresses_are_refused_hop_by_hop() -> None:
    records = _strangers(0, 2)
    market = [
        FakeListing(1, records),
        FakeListing(2, records, trouble=Trouble.REDIRECT, redirect_to="http://169.254.169.254/"),
        FakeListing(3, records, trouble=Trouble.REDIRECT),
        FakeListing(4, records, trouble=Trouble.REDIRECT, redirect_to="file:///etc/passwd"),
    ]
    app = make_fake_site(market)
    with serving(app) as base:
        # The same server under another loopback address: reachable, but not allowed.
        market[2].redirect_to = base.replace("127.0.0.1", "127.0.0.2") + "/item/1?via=redirect"
        listings, report = _crawl(_site(base), allowed_networks=LOOPBACK_ONLY)
    assert [x.url for x in listings] == [f"{base}/item/1"]
    reasons = {e.url.removeprefix(base): e.reason for e in report.errors}
    assert reasons == {
        "/item/2": "169.254.169.254 is a link-local address (169.254.169.254)",
        "/item/3": "127.0.0.2 is a loopback address (127.0.0.2)",
        "/item/4": "scheme 'file' is not http or https",
    }
    assert app.state.requests["/item/1?via=redirect"] == 0


def test_requests_to_one_host_are_paced_across_concurrent_crawls() -> None:
    market = [FakeListing(i, _strangers(0, 1)) for i in (1, 2)]
    with serving(make_fake_site(market)) as base:
        site = _site(base, requests_per_second=10)  # 5 requests a crawl: index, 2 + 2

        async def run(crawls: int) -> float:
            async with httpx.AsyncClient() as client:
                crawler = SiteCrawler(client, allow_private=True)
                started = time.monotonic()
                results = await asyncio.gather(*(crawler.crawl(site, {}) for _ in range(crawls)))
                assert all(r.errors == [] and len(x) == 2 for x, r in results)
                return time.monotonic() - started

        alone, together = asyncio.run(run(1)), asyncio.run(run(2))
    assert 0.4 <= alone < 2
    assert 0.9 <= together < 3  # ten requests, a tenth of a second apart


def test_a_site_behind_a_proxy_is_crawled_through_it(market: list[FakeListing], base: str) -> None:
    proxy = make_fake_proxy()
    with serving(proxy) as proxy_url:
        listings, report = _crawl(_site(base, proxy=proxy_url), allow_private=True)
    assert report.errors == [] and len(listings) == 7
    assert proxy.state.forwarded[0] == f"{base}/market?page=1"
    assert len(proxy.state.forwarded) == report.pages_fetched + report.attachments_fetched
    assert listings[0].records == [masked(r) for r in market[0].records]


def test_the_site_s_cookies_go_only_to_its_own_origin() -> None:
    """A redirect to the same host on another port (or from https to http) is another
    origin: the site's cookies and headers are not sent there."""
    records = _strangers(0, 2)
    market = [FakeListing(1, records), FakeListing(2, records, trouble=Trouble.REDIRECT)]
    elsewhere = make_fake_site([FakeListing(1, records)])
    own = make_fake_site(market)
    with serving(own) as base, serving(elsewhere) as other:
        market[1].redirect_to = f"{other}/item/1"
        site = _site(base, cookies={"sid": "seller-session"}, attachment_links=None)
        listings, report = _crawl(site, allow_private=True)
    assert report.errors == [] and len(listings) == 2
    assert own.state.cookies["/item/1"] == "sid=seller-session"
    assert elsewhere.state.cookies["/item/1"] is None


def test_a_proxy_on_a_private_address_is_refused_like_a_site(base: str) -> None:
    """The proxy is where connections go: a loopback proxy is an SSRF hole unless allowed."""
    proxy = make_fake_proxy()
    with serving(proxy) as proxy_url:
        site = _site(base.replace("127.0.0.1", "203.0.113.9"), proxy=proxy_url)
        listings, report = _crawl(site)
    assert listings == [] and report.pages_fetched == 0
    [error] = report.errors
    assert error.url == proxy_url and "loopback" in error.reason
    assert proxy.state.forwarded == []


def test_site_definitions_refuse_bad_settings() -> None:
    base = "https://market.example"
    bad: list[tuple[dict[str, Any], str]] = [
        ({"start_urls": ("file:///etc/passwd",)}, "must be an http or https URL"),
        ({"start_urls": ("ftp://market.example/",)}, "must be an http or https URL"),
        ({"start_urls": ()}, "at least one start URL"),
        ({"name": " "}, "a name of 1 to 200 characters"),
        ({"record_regex": "(?P<name>[a-z"}, "record_regex is not a valid regex"),
        ({"record_regex": r"(?P<idcard>\d{18})"}, "among address, .*, not idcard"),
        ({"record_regex": r"\d{11}"}, "needs named groups"),
        ({"listing_links": "a[href"}, "listing_links is not a valid CSS selector"),
        ({"next_page": "a:nonsense"}, "next_page is not a valid CSS selector"),
        ({"record_selector": "tr >> td"}, "record_selector is not a valid CSS selector"),
        ({"requests_per_second": 0}, "requests_per_second must be between"),
        ({"timeout_seconds": 0}, "timeout_seconds must be between"),
        ({"max_page_bytes": 10}, "max_page_bytes must be between"),
        ({"retries": 11}, "retries must be between"),
        ({"proxy": "socks5://proxy.example:1080"}, "proxy .* must be an http or https URL"),
        ({"headers": {"X-A": "1\r\nX-Injected: 1"}}, "one line of text"),
        ({"cookies": {"sid": "a\nb"}}, "one line of text"),
    ]
    for overrides, message in bad:
        with pytest.raises(ValueError, match=message):
            _site(base, **overrides)
    site = _site(base, start_urls=[f"{base}/list"], headers={"Referer": f"{base}/"})
    assert site.start_urls == (f"{base}/list",)
    with pytest.raises(TypeError):
        site.headers["Referer"] = "elsewhere"  # type: ignore[index]


def _hostile(record: Record) -> Record:
    """The record with a waybill number that makes CARELESS backtrack for ever."""
    return record | {"waybill_no": "7" * 40 + "!"}


def test_a_backtracking_record_regex_times_out_and_keeps_the_records_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sites, "REGEX_SECONDS_PER_TEXT", 0.05)
    monkeypatch.setattr(sites, "REGEX_SECONDS_PER_PAGE", 1.0)
    rows = _strangers(0, 4)
    market = [
        FakeListing(1, rows),
        FakeListing(2, [rows[0], _hostile(rows[1]), rows[2], _hostile(rows[3])]),
    ]
    with serving(make_fake_site(market)) as base:
        site = _site(base, record_regex=CARELESS, attachment_links=None)
        listings, report = _crawl(site, allow_private=True)
    assert [x.url for x in listings] == [f"{base}/item/1", f"{base}/item/2"]
    assert listings[0].records == [masked(r) for r in rows]
    assert listings[1].records == [masked(rows[0]), masked(rows[2])]
    assert len(listings[1].texts) == 4  # the hostile rows are still matched as text
    assert listings[0].complete and not listings[1].complete  # read again next poll
    [error] = report.errors
    assert error.url == f"{base}/item/2" and error.stage == "listing"
    assert error.reason == (
        "record_regex timed out on 2 of 4 texts (0.05 s each); the records found are kept"
    )


def test_a_page_s_record_regex_time_is_bounded_in_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sites, "REGEX_SECONDS_PER_TEXT", 0.05)
    monkeypatch.setattr(sites, "REGEX_SECONDS_PER_PAGE", 0.12)
    rows = _strangers(0, 3)
    market = [FakeListing(1, [rows[0], rows[1], *[_hostile(rows[2])] * 8, rows[2]])]
    with serving(make_fake_site(market)) as base:
        site = _site(base, record_regex=CARELESS, attachment_links=None)
        listings, report = _crawl(site, allow_private=True)
    [listing] = listings
    # The last row is never reached: the hostile rows spent the page's time.
    assert listing.records == [masked(rows[0]), masked(rows[1])]
    assert len(listing.texts) == 11
    [error] = report.errors
    assert re.fullmatch(
        r"record_regex timed out: the page's 0\.12 s ran out after [3-9] of 11 texts; "
        r"the records found are kept",
        error.reason,
    )
