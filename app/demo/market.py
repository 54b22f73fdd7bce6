"""The demo's data-trading site: an index of listings and listing pages with masked samples,
served on loopback, so the site watcher has somewhere real to crawl without a network."""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse


@dataclass(frozen=True)
class SampleRecord:
    name: str
    mobile: str
    address: str
    waybill_no: str

    def masked(self) -> tuple[str, str, str, str]:
        """As sellers show a sample: 肖*辉, 138****5678, the street cut with ***."""
        name = self.name[0] + "*" + self.name[-1] if len(self.name) > 2 else self.name[0] + "*"
        mobile = self.mobile[:3] + "****" + self.mobile[-4:]
        return name, mobile, self.address[:-4] + "***", self.waybill_no


@dataclass(frozen=True)
class MarketListing:
    id: int
    title: str
    price: str
    records: Sequence[SampleRecord]


def _page(title: str, body: str) -> HTMLResponse:
    html = (
        f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title></head><body>{body}</body></html>"
    )
    return HTMLResponse(html)


def make_market(listings: Sequence[MarketListing]) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    by_id = {listing.id: listing for listing in listings}

    @app.get("/market")
    def index() -> HTMLResponse:
        items = "".join(
            f'<li><a class="item" href="/item/{x.id}">{escape(x.title)}</a> '
            f'<span class="price">{escape(x.price)}</span></li>'
            for x in listings
        )
        return _page("数据市场", f"<h1>快递数据 每日更新</h1><ul>{items}</ul>")

    @app.get("/item/{item_id}")
    def item(item_id: int) -> HTMLResponse:
        listing = by_id.get(item_id)
        if listing is None:
            raise HTTPException(404)
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in r.masked()) + "</tr>"
            for r in listing.records
        )
        body = (
            f"<h1>{escape(listing.title)}</h1><p>单价 {escape(listing.price)}，"
            "当天出单，支持验货，量大从优。</p>"
            '<table class="sample"><tr><th>姓名</th><th>手机</th><th>地址</th><th>单号</th></tr>'
            f"{rows}</table>"
        )
        return _page(listing.title, body)

    return app
