"""`Intake`: the process's one way in (see app.intake), made once with what it needs."""

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, BinaryIO
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.auth.actor import Actor
from app.canary_index import LiveIndex, key_table_path
from app.db import Database
from app.evidence.store import EvidenceStore
from app.intake.matching import match_observations
from app.intake.sightings import Seen
from app.queueing.jobs import JobQueue
from app.settings import Settings
from canaries.matching import Matcher
from watchers.dumps import DumpLimits
from watchers.observations import Observation
from watchers.scan import ScanProgress, ScanResult, scan_stream

if TYPE_CHECKING:
    from app.intake.record import Recorded


class Intake:
    """Matches observations with no transaction open, and records what they named inside
    the caller's unit of work. `jobs`: where incident refreshes and alert deliveries are
    deferred to; without a queue (a CLI command) incidents are attributed in the unit.
    `zone`: the time zone incident explanations write their times in."""

    def __init__(
        self,
        database: Database,
        index: LiveIndex,
        evidence: EvidenceStore,
        zone: ZoneInfo,
        jobs: JobQueue | None = None,
    ) -> None:
        self.database = database
        self.index = index
        self.evidence = evidence
        self.zone = zone
        self.jobs = jobs

    @classmethod
    def standalone(cls, database: Database, settings: Settings) -> "Intake":
        """An intake for a one-off command: its own index, no job queue (incidents are
        attributed in the unit of work, alerts left to the sweep)."""
        index = LiveIndex(key_table_path(settings))
        return cls(database, index, EvidenceStore(settings.evidence_path), settings.zone)

    def matcher(self) -> Matcher:
        """A matcher over every canary stored (the index topped up in a plain read)."""
        with self.database.read() as session:
            return self.index.matcher(session)

    def match(self, observations: Iterable[Observation]) -> list[Seen]:
        seen = match_observations(self.matcher(), list(observations))
        if any(f.score is not None and not f.control for s in seen for f in s.found):
            _load_minting()
        return seen

    def scan(
        self,
        stream: BinaryIO,
        name: str,
        limits: DumpLimits | None = None,
        on_progress: Callable[[ScanProgress], None] | None = None,
    ) -> ScanResult:
        """Read a file as a dump, matching every row as it streams."""
        result = scan_stream(stream, name, self.matcher(), limits or DumpLimits(), on_progress)
        if result.matches:
            _load_minting()
        return result

    def record(self, session: Session, actor: Actor, seen: Sequence[Seen]) -> "Recorded":
        """Inside the caller's unit of work: store the sightings and hand them off. What
        they are handed to (evidence, alerts, incidents, burns) is imported here, when first
        recorded: a scan that only reports its matches starts without it."""
        from app.intake.record import record

        return record(session, actor, seen, evidence=self.evidence, jobs=self.jobs, zone=self.zone)

    def take(
        self,
        actor: Actor,
        observations: Iterable[Observation],
        then: Callable[[Session, Sequence[Seen], "Recorded"], None] | None = None,
    ) -> tuple[list[Seen], "Recorded"]:
        """Match, then record in a unit of work of its own; `then` adds the source's own
        writes (its audit entry) to that unit."""
        seen = self.match(observations)
        with self.database.write() as session:
            recorded = self.record(session, actor, seen)
            if then is not None:
                then(session, seen, recorded)
        return seen, recorded


def _load_minting() -> None:
    """Minting's tables, before the unit of work that replaces a canary that surfaced (not
    in it); imported here, as a scan that finds nothing never mints."""
    from canaries.mint import load_tables

    load_tables()
