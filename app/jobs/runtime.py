"""What jobs run with: made once per process (serve's lifespan, a worker's start)."""

import threading
from dataclasses import dataclass, field

from app.canary_index import LiveIndex, key_table_path
from app.db import Database
from app.evidence.store import EvidenceStore
from app.intake.pipeline import Intake
from app.queueing.jobs import JobQueue
from app.settings import Settings
from app.sites.crawling import CrawlLoop


@dataclass(frozen=True)
class Runtime:
    database: Database
    settings: Settings
    # The one way in, with the process's canary index, evidence store and this queue.
    intake: Intake
    jobs: JobQueue
    # The site watcher's one HTTP client for this process (never fetches private addresses
    # unless made with HONEYTRACE_FETCH_PRIVATE_ADDRESSES).
    crawls: CrawlLoop
    # Set when the process shuts down: long jobs (scans) stop early.
    stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def assemble(
        cls,
        database: Database,
        settings: Settings,
        jobs: JobQueue,
        crawls: CrawlLoop,
        index: LiveIndex | None = None,
        evidence: EvidenceStore | None = None,
    ) -> "Runtime":
        """A runtime whose intake defers to `jobs` (a process's own index and store, when
        not shared with its requests)."""
        intake = Intake(
            database,
            index or LiveIndex(key_table_path(settings)),
            evidence or EvidenceStore(settings.evidence_path),
            settings.zone,
            jobs,
        )
        return cls(database, settings, intake, jobs, crawls)
