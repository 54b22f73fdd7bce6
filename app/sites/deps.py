"""The crawl loop as routes receive it (app.resources says why this is apart)."""

from typing import Annotated

from fastapi import Depends

from app.resources import resource
from app.sites.crawling import CrawlLoop

CrawlsDep = Annotated[CrawlLoop, Depends(resource(CrawlLoop))]
