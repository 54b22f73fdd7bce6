"""The evidence log: mints, plants and sightings chained; every kind of tampering caught."""

import hashlib
import json
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.auth.actor import Actor
from app.canary_index import LiveIndex
from app.cli import cli
from app.db import make_engine, upgrade, utcnow
from app.evidence.log import (
    GENESIS,
    Event,
    append_events,
    daily_anchors,
    entry_hash,
    verify_chain,
)
from app.evidence.store import EvidenceStore
from app.intake.matching import match_observations
from app.intake.record import record
from app.links.schemas import LinkCreate
from app.links.service import create_link
from app.models.canaries import PlantChannel
from app.models.evidence import EntryKind, EvidenceEntry
from app.models.links import Link
from app.models.sightings import Sighting, SightingSource
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import (
    BACKENDS,
    SHANGHAI,
    LinkFactory,
    add_sightings,
    scratch_postgres_database,
    session_scope,
)
from watchers.observations import Evidence, Observation, SourceKind


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """This module's own database: verify reads the whole log from its genesis, so no other
    module's entries (or their blobs, kept elsewhere) may be in it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('evidence') / 'log.db'}"
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    with scratch_postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@dataclass
class Story:
    outlet: Link
    canaries: list[StoredCanary]
    store: EvidenceStore
    blob: str  # the sha256 of the listing page kept as a sighting's evidence
    sighting_seq: int


def _listing(canary: StoredCanary) -> str:
    masked = canary.name[0] + "*" + canary.name[-1]
    return (
        f"出售快递单号数据 样本: {masked} {canary.mobile} "
        f"{canary.province}{canary.city}{canary.district}{canary.address[:6]}*** 0.5元一条"
    )


def _rows(session: Session) -> list[EvidenceEntry]:
    return list(session.exec(select(EvidenceEntry).order_by(col(EvidenceEntry.seq))).all())


@pytest.fixture
def story(session: Session, make_link: LinkFactory, tmp_path: Path) -> Story:
    """Six canaries minted and planted at an outlet, one seen on a listing page."""
    outlet = make_link("滨江网点")
    minted = mint_canaries(
        session, Actor.cli(), outlet.id, 6, PlantChannel.CLI, rng=random.Random(11)
    )
    holder = LiveIndex()
    holder.refresh(session)
    store = EvidenceStore(tmp_path / "evidence")
    page = f"<html><body>{_listing(minted.planted[0])}</body></html>"
    observation = Observation(
        kind=SourceKind.SITE,
        source_id="http://shop.example/listing/1",
        observed_at=utcnow(),
        text=_listing(minted.planted[0]),
        evidence=Evidence(page.encode(), "text/html"),
        context={"url": "http://shop.example/listing/1"},
    )
    seen = match_observations(holder.matcher(session), [observation])
    observed = record(session, Actor.cli(), seen, evidence=store, jobs=None, zone=SHANGHAI)
    assert [s.canary_id for s in observed.added] == [minted.planted[0].id]
    session.flush()
    sighting = session.exec(
        select(EvidenceEntry).where(EvidenceEntry.kind == EntryKind.SIGHTING)
    ).one()
    assert sighting.blob_sha256 is not None
    return Story(outlet, minted.planted, store, sighting.blob_sha256, sighting.seq)


def test_mints_plants_and_sightings_make_one_chain_anyone_can_recompute(
    session: Session, story: Story
) -> None:
    rows = _rows(session)
    kinds = [r.kind for r in rows]
    # Six live canaries and their controls are minted; the burned one's replacement too.
    assert kinds.count("plant") == 6
    assert kinds.count("sighting") == 1
    assert kinds.count("mint") == 6 + round(6 * 0.05) + 1
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    # A third party needs only hashlib and the published byte layout.
    prev = "0" * 64
    for row in rows:
        layout = prev.encode("ascii") + row.entry.encode("utf-8")
        layout += (row.blob_sha256 or "").encode("ascii")
        assert row.prev_hash == prev
        assert row.hash == hashlib.sha256(layout).hexdigest()
        prev = row.hash

    first = story.canaries[0]
    minted = next(r for r in rows if r.kind == "mint" and r.subject_id == str(first.id))
    record = json.loads(minted.entry)
    assert minted.entry == json.dumps(record, sort_keys=True, separators=(",", ":"),
                                      ensure_ascii=False)  # fmt: skip
    assert record["data"]["waybill_no"] == first.waybill_no
    assert record["data"]["name"] == first.name
    assert record["data"]["link_id"] == str(story.outlet.id)
    assert "mobile_secret" not in record["data"]
    assert record["at"].endswith("Z")
    planted = next(r for r in rows if r.kind == "plant" and r.subject_id == str(first.id))
    assert planted.seq > minted.seq
    assert json.loads(planted.entry)["data"]["link_id"] == str(story.outlet.id)
    seen = json.loads(rows[story.sighting_seq - 1].entry)["data"]
    assert seen["canary_id"] == str(first.id)
    assert seen["evidence_sha256"] == story.blob

    result = verify_chain(session, story.store)
    assert result.ok, result.problem
    assert (result.entries, result.blobs) == (len(rows), 1)
    assert result.head is not None and result.head.hash == rows[-1].hash


def test_a_dump_sighting_keeps_the_file_hash_but_no_blob(session: Session, story: Story) -> None:
    """A leaked file is never kept (rule 5): its sha256 is chained as a fact, not looked for."""
    canary = story.canaries[1]
    file_sha256 = hashlib.sha256(b"a leaked file that was not kept").hexdigest()
    sighting = Sighting(
        canary_id=canary.id,
        link_id=canary.link_id,
        source=SightingSource.DUMP,
        dedup_key=hashlib.sha256(b"dump|row 7").hexdigest(),
        score=30.0,
        evidence_sha256=file_sha256,
        location={"file": "leak.csv", "row": 7},
        excerpt="row 7",
    )
    assert add_sightings(session, [sighting]) == [sighting]
    entry = session.exec(
        select(EvidenceEntry).where(
            EvidenceEntry.subject_id == str(sighting.id), EvidenceEntry.kind == EntryKind.SIGHTING
        )
    ).one()
    assert entry.blob_sha256 is None
    assert json.loads(entry.entry)["data"]["evidence_sha256"] == file_sha256
    assert verify_chain(session, story.store).ok


Tamper = Callable[[Session, Story], int]  # alters the log, returns the entry to be named


def _execute(session: Session, sql: str, **params: object) -> None:
    session.connection().execute(text(sql), params)


def _alter_json(session: Session, _story: Story) -> int:
    entry = session.get_one(EvidenceEntry, 3).entry
    altered = entry.replace('"control":false', '"control":true')
    assert altered != entry
    _execute(session, "UPDATE evidence_log SET entry = :e WHERE seq = 3", e=altered)
    return 3


def _alter_hash(session: Session, _story: Story) -> int:
    _execute(session, "UPDATE evidence_log SET hash = :h WHERE seq = 4", h="f" * 64)
    return 4


def _delete(session: Session, _story: Story) -> int:
    _execute(session, "DELETE FROM evidence_log WHERE seq = 5")
    return 5


def _reorder(session: Session, _story: Story) -> int:
    _execute(session, "UPDATE evidence_log SET seq = -1 WHERE seq = 2")
    _execute(session, "UPDATE evidence_log SET seq = 2 WHERE seq = 3")
    _execute(session, "UPDATE evidence_log SET seq = 3 WHERE seq = -1")
    return 2


def _alter_column(session: Session, _story: Story) -> int:
    _execute(session, "UPDATE evidence_log SET kind = 'plant' WHERE seq = 1")
    return 1


def _alter_blob(_session: Session, story: Story) -> int:
    story.store.path(story.blob).write_bytes(b"<html>something else</html>")
    return story.sighting_seq


def _remove_blob(_session: Session, story: Story) -> int:
    story.store.path(story.blob).unlink()
    return story.sighting_seq


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (_alter_json, "hash does not match its content"),
        (_alter_hash, "hash does not match its content"),
        (_delete, "missing"),
        (_reorder, "prev_hash is not the hash of the entry before it"),
        (_alter_column, "columns disagree"),
        (_alter_blob, "was altered"),
        (_remove_blob, "is missing"),
    ],
)
def test_tampering_is_caught_at_the_entry_it_touched(
    session: Session, story: Story, tamper: Tamper, problem: str
) -> None:
    assert verify_chain(session, story.store).ok
    named = tamper(session, story)
    result = verify_chain(session, story.store)
    assert not result.ok
    assert result.broken_seq == named
    assert result.problem is not None and result.problem.startswith(f"entry {named}: ")
    assert problem in result.problem


def _rewrite_from(session: Session, seq: int) -> None:
    """What a careful forger does: alter one entry and re-seal every entry after it."""
    rows = _rows(session)
    prev = GENESIS if seq == 1 else rows[seq - 2].hash
    for row in rows[seq - 1 :]:
        entry = row.entry.replace('"control":false', '"control":true', 1)
        digest = entry_hash(prev, entry, row.blob_sha256)
        _execute(
            session,
            "UPDATE evidence_log SET entry = :e, prev_hash = :p, hash = :h WHERE seq = :s",
            e=entry, p=prev, h=digest, s=row.seq,
        )  # fmt: skip
        prev = digest
    session.expire_all()


def test_anchors_catch_a_resealed_chain_and_a_cut_tail(session: Session, story: Story) -> None:
    anchors = daily_anchors(session)
    assert [a.seq for a in anchors] == [len(_rows(session))]
    assert verify_chain(session, story.store, anchors).anchors == 1

    _rewrite_from(session, 2)
    assert verify_chain(session, story.store).ok  # the chain alone cannot tell
    result = verify_chain(session, story.store, anchors)
    assert result.broken_seq == anchors[0].seq
    assert result.problem is not None and "differs from the anchor" in result.problem

    _execute(session, "DELETE FROM evidence_log WHERE seq > 3")
    cut = verify_chain(session, story.store, anchors)
    assert cut.broken_seq == anchors[0].seq
    assert cut.problem is not None and "the chain now ends at entry 3" in cut.problem


def test_one_anchor_per_utc_day_and_days_never_run_backwards(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [datetime(2026, 3, 1, 23, 59, tzinfo=UTC)]
    monkeypatch.setattr("app.evidence.log.utcnow", lambda: clock[0])

    def append(n: int) -> None:
        append_events(
            session,
            [Event(EntryKind.MINT, str(uuid.uuid4()), {"n": i}) for i in range(n)],
        )

    append(2)  # 1, 2 on 1 March
    clock[0] += timedelta(minutes=2)
    append(3)  # 3..5 on 2 March
    clock[0] -= timedelta(hours=1)  # the clock steps back across midnight
    append(1)  # 6: still 2 March
    clock[0] = datetime(2026, 3, 5, 8, tzinfo=UTC)
    append(1)  # 7 on 5 March
    anchors = daily_anchors(session)
    rows = _rows(session)
    assert [(a.day, a.seq) for a in anchors] == [
        (date(2026, 3, 1), 2),
        (date(2026, 3, 2), 6),
        (date(2026, 3, 5), 7),
    ]
    assert all(a.hash == rows[a.seq - 1].hash for a in anchors)
    assert [a.seq for a in daily_anchors(session, date(2026, 3, 2))] == [6, 7]
    assert daily_anchors(session, date(2026, 3, 6)) == []
    assert verify_chain(session, EvidenceStore(Path("unused")), anchors).ok


def test_a_second_successor_of_one_head_is_refused(session: Session) -> None:
    """What keeps two appenders that read the same head (had the lock been missed) apart."""
    append_events(session, [Event(EntryKind.MINT, "a", {})])
    fork = {
        "seq": 1, "kind": "mint", "subject_id": "b", "created_at": utcnow(), "entry": "{}",
        "prev_hash": GENESIS, "hash": entry_hash(GENESIS, "{}", None),
    }  # fmt: skip
    with pytest.raises(IntegrityError), session.begin_nested():
        session.connection().execute(insert(EvidenceEntry), [fork])


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
        return
    with scratch_postgres_database() as url:
        yield url


def test_concurrent_appenders_make_one_chain_without_gaps(empty_url: str) -> None:
    engine = make_engine(empty_url)
    upgrade(engine)
    workers, transactions, per_append = 8, 10, 3
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for t in range(transactions):
                with session_scope(engine) as session:
                    for a in range(2):  # two appends in one unit of work stay adjacent
                        append_events(
                            session,
                            [Event(EntryKind.PLANT, f"{worker}-{t}-{a}-{i}", {"i": i})
                             for i in range(per_append)],
                        )  # fmt: skip
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(engine) as session:
        result = verify_chain(session, EvidenceStore(Path("unused")))
        subjects = [r.subject_id for r in _rows(session)]
    engine.dispose()
    assert result.ok, result.problem
    assert result.entries == workers * transactions * 2 * per_append
    # Each unit of work's entries are contiguous: no other appender got in between.
    for i in range(0, len(subjects), 2 * per_append):
        assert len({s.rsplit("-", 2)[0] for s in subjects[i : i + 2 * per_append]}) == 1


def test_verify_and_anchors_commands(empty_url: str, tmp_path: Path) -> None:
    env = {"HONEYTRACE_DATABASE_URL": empty_url, "HONEYTRACE_EVIDENCE_DIR": str(tmp_path / "ev")}
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    engine = make_engine(empty_url)
    upgrade(engine)
    with session_scope(engine) as session:
        link = create_link(
            session,
            Actor.cli(),
            LinkCreate(name="网点", kind=LinkKind.OUTLET, region="330106", courier=Courier.ZTO),
        )
    assert run("mint", "--link", str(link.id), "--count", "4", "--json")[0] == 0

    code, out, _ = run("evidence", "verify", "--json")
    report = json.loads(out)
    # The link and its audit row, 4 mints and plants (no control at 4 x 5%), the mint's audit.
    assert code == 0 and report["ok"] and report["entries"] == 2 + 4 + 4 + 1
    assert report["rows"] == 1 + 4 + 2  # the link, the plants, the audit rows
    code, out, _ = run("evidence", "anchors", "--json")
    anchors = json.loads(out)
    assert code == 0
    assert anchors == [report["head"]] and report["head"]["seq"] == 11
    anchor_file = tmp_path / "anchors.json"
    anchor_file.write_text(out)
    code, out, _ = run("evidence", "anchors", "--since", "2999-01-01")
    assert code == 0 and out == ""
    code, out, _ = run("evidence", "verify", "--anchors", str(anchor_file))
    assert code == 0 and "11 entries, 0 blobs, 1 anchors and 7 table rows checked" in out

    with engine.begin() as connection:
        connection.execute(text("UPDATE evidence_log SET entry = '{}' WHERE seq = 6"))
    engine.dispose()
    code, out, err = run("evidence", "verify")
    assert code == 1
    assert "entry 6: its hash does not match its content" in err

    bad = tmp_path / "bad.json"
    bad.write_text('[{"day": "2026-01-01", "seq": 0, "hash": "xyz"}]')
    code, _, err = run("evidence", "verify", "--anchors", str(bad))
    assert code == 2 and "0.seq" in err
