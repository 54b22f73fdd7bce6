"""A fake data-trading site, served on loopback for the site watcher's tests.

Its pages look like the real ones: a market index with pagination (上一页 / 下一页), and
listing pages with a title, a price per record, a seller, a sample table of masked records
and a sample file to download, some in GBK. A listing can be told to misbehave (503s, a
huge page, a redirect loop, a slow-loris drip, not HTML, a decompression bomb) to test
that a crawl stays bounded. Listings are mutable: change one between crawls and its page
changes. Every request is counted in `app.state.requests` by path and query, and the
Cookie header it came with is kept in `app.state.cookies`.
"""

import asyncio
import gzip
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from html import escape

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

Record = dict[str, str]  # name, mobile, address, waybill_no


class Trouble(StrEnum):
    FLAKY = "flaky"  # 503 for the first `fail_times` requests, then the page
    HUGE = "huge"  # an HTML stream of 64 MiB
    GZIP_BOMB = "gzip-bomb"  # 64 MiB of HTML gzipped into about 64 KiB
    REDIRECT_LOOP = "redirect-loop"  # /item/N -> ?hop=1 -> ?hop=2 -> /item/N
    REDIRECT_CHAIN = "redirect-chain"  # ?hop=1 -> ?hop=2 -> ... without end
    REDIRECT = "redirect"  # to `redirect_to`
    SLOW_LORIS = "slow-loris"  # one byte every `drip_seconds`, forever
    NOT_HTML = "not-html"  # a PDF


@dataclass
class FakeListing:
    id: int
    records: list[Record]
    title: str = "2026年11月 浙江杭州 快递单号数据 新鲜 500条"
    price: str = "0.3元/条"
    encoding: str = "utf-8"
    charset_in_header: bool = True  # else only in a <meta> tag
    gzip: bool = False  # compressed when the client accepts gzip
    sample: str | None = "csv"  # "csv", "txt" or None
    trouble: Trouble | None = None
    fail_times: int = 0
    redirect_to: str = ""
    served: int = field(default=0, repr=False)


def mask_name(name: str) -> str:
    if "*" in name or len(name) < 2:
        return name
    return name[0] + "*" + name[-1] if len(name) >= 3 else name[0] + "*"


def mask_mobile(mobile: str) -> str:
    return mobile[:3] + "****" + mobile[7:] if re.fullmatch(r"1\d{10}", mobile) else mobile


def cut_address(address: str) -> str:
    return address if len(address) <= 10 or "*" in address else address[:-4] + "***"


def masked(record: Record) -> Record:
    """A record as a seller's sample shows it."""
    return {
        "name": mask_name(record["name"]),
        "mobile": mask_mobile(record["mobile"]),
        "address": cut_address(record["address"]),
        "waybill_no": record["waybill_no"],
    }


def _page(title: str, body: str, charset: str) -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{escape(title)} - '
        f"数据商城</title><style>td{{padding:2px}}</style><script>var uid=0;</script></head>"
        f'<body><div class="nav"><a href="/">首页</a> &gt; <a href="/market">数据市场</a> '
        f"&gt; 快递物流</div>{body}"
        f'<div class="foot">本站数据仅供测试 客服QQ 10001 | Telegram @fake_market</div>'
        f"</body></html>"
    )


def _index_html(listings: Sequence[FakeListing], page: int, pages: int) -> str:
    items = "".join(
        f'<div class="item"><a class="item-link" href="/item/{item.id}">{escape(item.title)}'
        f'</a> <span class="price">{escape(item.price)}</span> 已售 {37 * item.id % 500} 份</div>'
        for item in listings
    )
    # A link off the site, as index pages carry ads; a crawl must not follow it.
    items += '<div class="item"><a class="item-link" href="http://203.0.113.7/item/1">广告</a>'
    pager = []
    if page > 1:
        pager.append(f'<a href="/market?page={page - 1}">上一页</a>')
    pager.append(f"<span>第 {page}/{pages} 页</span>")
    if page < pages:
        pager.append(f'<a href="/market?page={page + 1}">下一页</a>')
    body = f'<h2>快递数据</h2><div class="list">{items}</div>'
    body += f'<div class="pager">{" ".join(pager)}</div>'
    return _page(f"数据市场 第{page}页", body, "utf-8")


def _listing_html(listing: FakeListing) -> str:
    rows = "".join(
        f"<tr><td>{escape(r['name'])}</td><td>{escape(r['mobile'])}</td>"
        f"<td>{escape(r['address'])}</td><td>{escape(r['waybill_no'])}</td></tr>"
        for r in map(masked, listing.records)
    )
    sample = ""
    if listing.sample:
        href = f"/item/{listing.id}/sample.{listing.sample}"
        sample = f'<p><a class="sample-file" href="{href}">下载样本（{listing.sample}）</a></p>'
    body = (
        f'<h1 class="title">{escape(listing.title)}</h1>'
        f'<div class="meta">单价 <b class="price">{escape(listing.price)}</b> 起售 100 条 '
        f"卖家：老王数据 信誉 ★★★★☆ 更新时间：2026-11-02</div>"
        f'<div class="desc">当天出单，新鲜快递单号数据，姓名电话地址齐全，支持验货，'
        f"量大从优，拒绝二手。下单后自动发货。</div>"
        f'<table class="sample"><thead><tr><th>姓名</th><th>手机</th><th>地址</th>'
        f"<th>单号</th></tr></thead><tbody>{rows}</tbody></table>{sample}"
    )
    return _page(listing.title, body, listing.encoding)


def _sample(listing: FakeListing) -> tuple[bytes, str]:
    rows = [masked(r) for r in listing.records]
    if listing.sample == "txt":
        text = "\r\n".join("----".join(r.values()) for r in rows)
        media = "text/plain"
    else:
        lines = ["姓名,手机,收货地址,快递单号", *(",".join(r.values()) for r in rows)]
        text = "\r\n".join(lines)
        media = "text/csv"
    codec = "utf-8-sig" if listing.encoding == "utf-8" else listing.encoding
    return text.encode(codec), f"{media}; charset={listing.encoding}"


async def _drip(seconds: float) -> AsyncIterator[bytes]:
    yield b"<html><body>"
    while True:
        await asyncio.sleep(seconds)
        yield b" "


async def _huge() -> AsyncIterator[bytes]:
    chunk = ("<p>" + "数据" * 8000 + "</p>").encode()
    for _ in range(64 * 1024 * 1024 // len(chunk)):
        yield chunk


@cache
def _bomb() -> bytes:
    return gzip.compress(b"<html><body>" + b" " * (64 * 1024 * 1024), compresslevel=9)


def make_fake_site(
    listings: list[FakeListing], *, per_page: int = 3, drip_seconds: float = 1.0
) -> FastAPI:
    """The market over `listings` (read live, so tests may change them between crawls)."""
    app = FastAPI()
    requests: Counter[str] = Counter()
    app.state.requests = requests
    cookies: dict[str, str | None] = {}  # path and query -> the Cookie header it came with
    app.state.cookies = cookies

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        requests[request.url.path + query] += 1
        cookies[request.url.path + query] = request.headers.get("cookie")
        return await call_next(request)

    @app.get("/market")
    def market(page: int = 1) -> Response:
        pages = max(1, -(-len(listings) // per_page))
        shown = listings[(page - 1) * per_page : page * per_page]
        return Response(_index_html(shown, page, pages), media_type="text/html")

    def find(item_id: int) -> FakeListing | None:
        return next((item for item in listings if item.id == item_id), None)

    @app.get("/item/{item_id}")
    async def item(item_id: int, request: Request, hop: int = 0) -> Response:
        listing = find(item_id)
        if listing is None:
            return Response("没有这个商品", status_code=404, media_type="text/plain")
        listing.served += 1
        trouble = listing.trouble
        if trouble is Trouble.FLAKY and listing.served <= listing.fail_times:
            return Response("服务器繁忙", status_code=503, media_type="text/plain")
        if trouble is Trouble.REDIRECT_LOOP:
            following = f"/item/{item_id}" + (f"?hop={hop + 1}" if hop < 2 else "")
            return RedirectResponse(following, status_code=302)
        if trouble is Trouble.REDIRECT_CHAIN:
            return RedirectResponse(f"/item/{item_id}?hop={hop + 1}", status_code=302)
        if trouble is Trouble.REDIRECT:
            return RedirectResponse(listing.redirect_to, status_code=302)
        if trouble is Trouble.SLOW_LORIS:
            return StreamingResponse(_drip(drip_seconds), media_type="text/html")
        if trouble is Trouble.HUGE:
            return StreamingResponse(_huge(), media_type="text/html")
        if trouble is Trouble.GZIP_BOMB:
            return Response(_bomb(), media_type="text/html", headers={"Content-Encoding": "gzip"})
        if trouble is Trouble.NOT_HTML:
            return Response(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", media_type="application/pdf")
        body = _listing_html(listing).encode(listing.encoding)
        media = "text/html" + (f"; charset={listing.encoding}" if listing.charset_in_header else "")
        headers = {"Content-Type": media}
        if listing.gzip and "gzip" in request.headers.get("accept-encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return Response(body, headers=headers)

    @app.get("/item/{item_id}/sample.{extension}")
    def sample(item_id: int, extension: str) -> Response:
        listing = find(item_id)
        if listing is None or listing.sample != extension:
            return Response("没有样本", status_code=404, media_type="text/plain")
        body, media = _sample(listing)
        return Response(
            body,
            headers={
                "Content-Type": media,
                "Content-Disposition": f'attachment; filename="sample-{item_id}.{extension}"',
            },
        )

    return app


def make_fake_proxy() -> FastAPI:
    """A forward HTTP proxy: what it forwards is listed in `app.state.forwarded`."""
    app = FastAPI()
    forwarded: list[str] = []
    app.state.forwarded = forwarded
    hop_by_hop = {"host", "connection", "proxy-connection", "content-length", "transfer-encoding"}

    @app.middleware("http")
    async def forward(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # A proxied request names the whole URL; uvicorn rebuilds it from the Host header.
        url = str(request.url)
        forwarded.append(url)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop_by_hop}
        async with httpx.AsyncClient() as client:
            response = await client.get(url, headers=headers)
        kept = {k: v for k, v in response.headers.items() if k.lower() not in hop_by_hop}
        kept.pop("content-encoding", None)  # httpx has inflated the body
        return Response(response.content, response.status_code, headers=kept)

    return app
