"""What the API and the CLI accept and show for trading sites.

A site's cookies and header values are credentials for the trading site (a logged-in session):
they are stored, sent to that site only, and never shown back; reads list their names.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.models.sites import Site
from app.text import Label, SafeText

Url = Annotated[SafeText, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")]
# A page to crawl: no `user:password@` (shown to every reader of the site; a proxy may carry
# one, and is never shown).
PageUrl = Annotated[
    SafeText, StringConstraints(max_length=2000, pattern=r"^https?://[^\s/@?#]+(?:[/?#]\S*)?$")
]
Selector = Annotated[
    SafeText,
    StringConstraints(min_length=1, max_length=500),
    Field(json_schema_extra={"format": "css-selector"}, examples=["div.item a.title"]),
]
HeaderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
# What HTTP allows in a field value (RFC 9110: visible ASCII, inner spaces and tabs), so a
# value is never refused later by the HTTP library, whose message would quote it.
_VISIBLE = r"[\x21-\x7e]"
HeaderValue = Annotated[
    str,
    StringConstraints(max_length=4000, pattern=rf"^(?:{_VISIBLE}(?:[ \t\x21-\x7e]*{_VISIBLE})?)?$"),
]
# RFC 6265 cookie-octets: no space, quote, comma, semicolon or backslash (one value cannot
# add another cookie to the joined header).
CookieValue = Annotated[
    str,
    StringConstraints(max_length=4000, pattern=r"^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$"),
]


class SiteDefinitionBody(BaseModel):
    """How to crawl one site (watchers.sites.SiteDefinition checks it further)."""

    model_config = ConfigDict(extra="forbid")

    start_urls: Annotated[list[PageUrl], Field(min_length=1, max_length=20)]
    listing_links: Selector = Field(description="CSS selector of links to listing pages.")
    next_page: Selector | None = Field(None, description="CSS selector of the next-page link.")
    max_pages: Annotated[int, Field(ge=1, le=1000)] = 20
    max_listings: Annotated[int, Field(ge=1, le=10_000)] = 500
    record_selector: Selector | None = Field(
        None, description="CSS selector: each element's text is one record."
    )
    record_regex: Annotated[SafeText, StringConstraints(max_length=2000)] | None = Field(
        None,
        description="A regex whose named groups (name, mobile, address, province, city, "
        "district, waybill_no) pick a record's fields out of the text.",
    )
    attachment_links: Selector | None = Field(
        None, description="CSS selector of sample-file links (scanned like a dump)."
    )
    headers: Annotated[dict[HeaderName, HeaderValue], Field(max_length=50)] = {}
    cookies: Annotated[dict[HeaderName, CookieValue], Field(max_length=50)] = {}
    proxy: Url | None = None
    requests_per_second: Annotated[float, Field(gt=0, le=10)] = 1.0
    max_page_bytes: Annotated[int, Field(ge=1024, le=50 * 1_048_576)] = 5 * 1_048_576
    max_attachment_bytes: Annotated[int, Field(ge=1024, le=500 * 1_048_576)] = 50 * 1_048_576
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3


class SiteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Label, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    definition: SiteDefinitionBody
    poll_interval_seconds: Annotated[int, Field(ge=60, le=30 * 86400)] = 3600
    enabled: bool = True


class SiteUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: SiteDefinitionBody | None = None
    poll_interval_seconds: Annotated[int, Field(ge=60, le=30 * 86400)] | None = None
    enabled: bool | None = None


class SiteRead(BaseModel):
    id: uuid.UUID
    name: str
    definition: dict[str, Any] = Field(
        description="The definition, with header and cookie values withheld (names only)."
    )
    poll_interval_seconds: int
    enabled: bool
    created_at: datetime
    updated_at: datetime
    last_polled_at: datetime | None
    last_report: dict[str, Any]

    @classmethod
    def of(cls, site: Site) -> "SiteRead":
        shown = dict(site.definition)
        shown["headers"] = sorted(site.definition.get("headers", {}))
        shown["cookies"] = sorted(site.definition.get("cookies", {}))
        if shown.get("proxy"):
            shown["proxy"] = "(set)"  # a proxy URL may carry a password
        return cls(
            id=site.id,
            name=site.name,
            definition=shown,
            poll_interval_seconds=site.poll_interval_seconds,
            enabled=site.enabled,
            created_at=site.created_at,
            updated_at=site.updated_at,
            last_polled_at=site.last_polled_at,
            last_report=site.last_report,
        )


class ListingRead(BaseModel):
    url: str
    sha256: str
    first_seen_at: datetime
    changed_at: datetime
    sightings: int


class PollSummary(BaseModel):
    """One poll of one site: what was fetched, what was new, what it came to."""

    site_id: uuid.UUID
    started_at: datetime
    finished_at: datetime
    pages_fetched: int
    listings_seen: int
    listings_changed: int
    attachments_scanned: int
    sightings_added: int
    errors: list[dict[str, str]]
