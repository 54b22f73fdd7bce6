"""One HTTP client per process for the site watcher, on an event loop of its own.

Jobs are plain functions run on threads (in-process on SQLite, on procrastinate workers on
PostgreSQL); crawling is asynchronous. Rather than each poll making a client of its own, the
polls of a process share one client, its connection pools and its per-host pacing, living on
one event loop in a thread: callers on any thread or loop submit a crawl and wait for it.
"""

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

import httpx

from watchers.sites import SiteCrawler

T = TypeVar("T")


class CrawlLoop:
    """Started on first use, closed with the process's jobs."""

    def __init__(self, *, allow_private: bool = False) -> None:
        self.allow_private = allow_private
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._crawler: SiteCrawler | None = None

    def _started(self) -> tuple[asyncio.AbstractEventLoop, SiteCrawler]:
        with self._lock:
            if self._loop is None or self._crawler is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="crawls", daemon=True)
                thread.start()

                async def make() -> SiteCrawler:
                    client = httpx.AsyncClient(follow_redirects=False)
                    return SiteCrawler(client, allow_private=self.allow_private)

                self._crawler = asyncio.run_coroutine_threadsafe(make(), loop).result()
                self._loop, self._thread = loop, thread
            return self._loop, self._crawler

    def submit(self, crawl: Callable[[SiteCrawler], Awaitable[T]]) -> "Future[T]":
        loop, crawler = self._started()

        async def run() -> T:
            return await crawl(crawler)

        return asyncio.run_coroutine_threadsafe(run(), loop)

    def run(self, crawl: Callable[[SiteCrawler], Awaitable[T]]) -> T:
        """Run a crawl on the shared client and wait for it (from a job's thread)."""
        return self.submit(crawl).result()

    async def run_async(self, crawl: Callable[[SiteCrawler], Awaitable[T]]) -> T:
        """The same, awaited from another event loop (a request); the first call starts the
        loop, which waits on a lock and a thread, so it is submitted from a thread."""
        return await asyncio.wrap_future(await asyncio.to_thread(self.submit, crawl))

    def close(self) -> None:
        with self._lock:
            loop, thread, crawler = self._loop, self._thread, self._crawler
            self._loop = self._thread = self._crawler = None
        if loop is None or thread is None or crawler is None:
            return
        asyncio.run_coroutine_threadsafe(crawler.client.aclose(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
