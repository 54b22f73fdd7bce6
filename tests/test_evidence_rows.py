"""The rows attribution reads, checked against the chain: every edit, deletion or insertion
made beside the application fails verify, naming the row and its entry; real changes do not."""

import hashlib
import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, update
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.db import make_engine, upgrade, utcnow
from app.evidence.log import Event, append_events, verify_chain
from app.evidence.rows import verify_evidence
from app.evidence.store import EvidenceStore
from app.incidents.service import close_incident, merge_incidents, split_incident
from app.links.importer import import_links_csv
from app.links.schemas import LinkCreate, LinkUpdate
from app.links.service import add_reader, create_link, delete_link, remove_reader, update_link
from app.models.audit import AuditEntry
from app.models.canaries import Plant, PlantChannel
from app.models.evidence import EntryKind, EvidenceEntry
from app.models.incidents import IncidentSighting
from app.models.links import Link, LinkReader
from app.models.sightings import Sighting, SightingSource
from app.planting.schemas import StoredCanary
from app.planting.service import mint_canaries
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import BACKENDS, SHANGHAI, LinkFactory, add_sightings, scratch_postgres_database


@pytest.fixture(scope="module", params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """This module's own database: verify reads every table whole, so no other module's
    rows may be in it."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('rows') / 'rows.db'}")
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
class World:
    region: Link
    outlet: Link
    other: Link
    vendor: Link
    planted: list[StoredCanary]  # at the outlet
    sightings: list[Sighting]  # of planted[0] and one of the other outlet's, two incidents
    store: EvidenceStore


def _dump_sighting(canary: StoredCanary, file: bytes, row: int) -> Sighting:
    """A match in a leaked file: no blob is kept, so verify needs none on disk."""
    return Sighting(
        canary_id=canary.id,
        link_id=canary.link_id,
        source=SightingSource.DUMP,
        dedup_key=hashlib.sha256(file + str(row).encode()).hexdigest(),
        score=41.5,
        evidence_sha256=hashlib.sha256(file).hexdigest(),
        location={"file": "leak.csv", "row": row},
        excerpt=f"row {row}",
    )


@pytest.fixture
def world(session: Session, make_link: LinkFactory, tmp_path: Path) -> World:
    """A region with an outlet, an outlet apart, a vendor reading the first, canaries at both,
    and two leaked files each showing one canary of one outlet (each burned, and replaced)."""
    region = make_link("浙江大区", LinkKind.REGION, region="330000")
    outlet = make_link("西湖网点", parent=region)
    # Under no region: two canaries of two outlets of one region could be one leak of the
    # region's, and are grouped as one incident (attribution.grouping); these must be two.
    other = make_link("滨江网点", region="330108")
    vendor = make_link("面单软件", LinkKind.VENDOR)
    add_reader(session, Actor.cli(), outlet.id, vendor.id)
    rng = random.Random(7)
    planted = mint_canaries(session, Actor.cli(), outlet.id, 4, PlantChannel.CLI, rng=rng).planted
    others = mint_canaries(session, Actor.cli(), other.id, 2, PlantChannel.CLI, rng=rng).planted
    seen = [_dump_sighting(planted[0], b"leak one", 3), _dump_sighting(others[0], b"leak two", 9)]
    assert add_sightings(session, seen) == seen
    session.commit()
    return World(region, outlet, other, vendor, planted, seen, EvidenceStore(tmp_path / "ev"))


def _verified(session: Session, world: World) -> int:
    result = verify_evidence(session, world.store)
    assert result.ok, result.problem
    return result.rows


def _latest(session: Session, kind: EntryKind, subject: object) -> int:
    """The seq of the subject's latest entry of this kind."""
    return session.exec(
        select(func.max(EvidenceEntry.seq)).where(
            EvidenceEntry.kind == kind, EvidenceEntry.subject_id == str(subject)
        )
    ).one()


def _incident_of(session: Session, sighting: Sighting) -> uuid.UUID:
    return session.exec(
        select(IncidentSighting.incident_id).where(IncidentSighting.sighting_id == sighting.id)
    ).one()


def test_every_row_attribution_reads_is_chained_and_verifies(
    session: Session, world: World
) -> None:
    def count(model: Any) -> int:
        return session.exec(select(func.count()).select_from(model)).one()

    tables = [Link, Plant, Sighting, IncidentSighting, AuditEntry]
    assert [count(t) for t in tables[:4]] == [4, 4 + 2, 2, 2]
    assert count(AuditEntry) >= 4 + 1 + 2  # the links, the reader, the mints (and burns)
    assert _verified(session, world) == sum(count(t) for t in tables)
    kinds = dict(
        session.exec(select(EvidenceEntry.kind, func.count()).group_by(EvidenceEntry.kind)).all()
    )
    assert kinds["link"] == 4 + 1  # each created, and the outlet again with its reader
    assert (kinds["membership"], kinds["audit"]) == (2, count(AuditEntry))


def test_real_merges_splits_link_edits_and_imports_still_verify(
    session: Session, world: World
) -> None:
    actor = Actor.cli()
    first, second = world.sightings
    into, other = _incident_of(session, first), _incident_of(session, second)
    merge_incidents(session, actor, into, [other], SHANGHAI)
    split = split_incident(session, actor, into, [second.id], SHANGHAI).others[0]
    close_incident(session, actor, split.id)
    assert _incident_of(session, second) == split.id

    update_link(session, actor, world.other.id, LinkUpdate(parent_id=None, records_per_day=900))
    remove_reader(session, actor, world.outlet.id, world.vendor.id)
    add_reader(session, actor, world.other.id, world.vendor.id)
    spare = create_link(session, actor, _link_create("待删网点", world.region.id))
    add_reader(session, actor, world.other.id, spare.id)
    delete_link(session, actor, spare.id)  # its reader row goes with it
    import_links_csv(session, actor, f"ref,name,kind,region,courier,parent\n"
                     f"a,导入网点,outlet,330106,zto,{world.region.id}\n".encode())  # fmt: skip
    session.commit()
    _verified(session, world)

    moves = [
        (e["grouping"], e["from_incident_id"], e["incident_id"])
        for e in _entry_data(session, EntryKind.MEMBERSHIP, second.id)
    ]
    assert moves == [
        ("grouped", None, str(other)),
        ("merged", str(other), str(into)),
        ("split", str(into), str(split.id)),
    ]
    (gone,) = _entry_data(session, EntryKind.LINK, spare.id)[-1:]
    assert gone["change"] == "deleted"
    *_, read, moved = _entry_data(session, EntryKind.LINK, world.other.id)
    assert read["reader_ids"] == sorted([str(world.vendor.id), str(spare.id)])
    assert moved["parent_id"] is None and moved["reader_ids"] == [str(world.vendor.id)]


def _link_create(name: str, parent_id: uuid.UUID) -> LinkCreate:
    return LinkCreate(
        name=name, kind=LinkKind.OUTLET, region="330106", courier=Courier.ZTO, parent_id=parent_id
    )


def _entry_data(session: Session, kind: EntryKind, subject: object) -> list[dict[str, Any]]:
    entries = session.exec(
        select(EvidenceEntry.entry)
        .where(EvidenceEntry.kind == kind, EvidenceEntry.subject_id == str(subject))
        .order_by(col(EvidenceEntry.seq))
    ).all()
    return [json.loads(e)["data"] for e in entries]


# A tamper changes the tables beside the application and returns what verify must say, and
# the entry it must name (None for a row no entry chains).
Tamper = Callable[[Session, World], tuple[str, int | None]]


def _move_plant(session: Session, world: World) -> tuple[str, int | None]:
    canary = world.planted[2].id
    session.execute(
        update(Plant).where(col(Plant.canary_id) == canary).values(link_id=world.other.id)
    )
    seq = _latest(session, EntryKind.PLANT, canary)
    return f"plant of canary {canary}: differs from entry {seq} in link_id", seq


def _move_plant_and_chain_it_again(session: Session, world: World) -> tuple[str, int | None]:
    """A forger who also appends a plant entry saying so: a plant is chained once."""
    canary = world.planted[2].id
    first = _latest(session, EntryKind.PLANT, canary)
    now = utcnow()
    session.execute(
        update(Plant)
        .where(col(Plant.canary_id) == canary)
        .values(link_id=world.other.id, planted_at=now)
    )
    data = {"canary_id": canary, "link_id": world.other.id, "planted_at": now,
            "channel": "cli", "actor": "cli"}  # fmt: skip
    append_events(session, [Event(EntryKind.PLANT, str(canary), data)])
    seq = _latest(session, EntryKind.PLANT, canary)
    return f"plant of canary {canary}: chained twice (entries {first}, {seq})", seq


def _rescore_sighting(session: Session, world: World) -> tuple[str, int | None]:
    sighting = world.sightings[1].id
    session.execute(update(Sighting).where(col(Sighting.id) == sighting).values(score=12.0))
    seq = _latest(session, EntryKind.SIGHTING, sighting)
    return f"sighting {sighting}: differs from entry {seq} in score", seq


def _delete_sighting(session: Session, world: World) -> tuple[str, int | None]:
    sighting = world.sightings[0].id
    session.execute(delete(IncidentSighting).where(col(IncidentSighting.sighting_id) == sighting))
    session.execute(delete(Sighting).where(col(Sighting.id) == sighting))
    seq = _latest(session, EntryKind.SIGHTING, sighting)
    return f"sighting {sighting}: gone (entry {seq})", seq


def _insert_sighting(session: Session, world: World) -> tuple[str, int | None]:
    forged = _dump_sighting(world.planted[3], b"a file never scanned", 1)
    session.execute(insert(Sighting).values(**forged.model_dump()))
    return f"sighting {forged.id}: no entry chains it", None


def _edit_audit(session: Session, _world: World) -> tuple[str, int | None]:
    row = session.exec(select(func.min(AuditEntry.id))).one()
    session.execute(update(AuditEntry).where(col(AuditEntry.id) == row).values(actor="someone"))
    seq = _latest(session, EntryKind.AUDIT, row)
    return f"audit row {row}: differs from entry {seq} in actor", seq


def _delete_audit(session: Session, _world: World) -> tuple[str, int | None]:
    row = session.exec(select(func.max(AuditEntry.id))).one()
    session.execute(delete(AuditEntry).where(col(AuditEntry.id) == row))
    seq = _latest(session, EntryKind.AUDIT, row)
    return f"audit row {row}: gone (entry {seq})", seq


def _move_membership(session: Session, world: World) -> tuple[str, int | None]:
    first, second = world.sightings
    session.execute(
        update(IncidentSighting)
        .where(col(IncidentSighting.sighting_id) == first.id)
        .values(incident_id=_incident_of(session, second))
    )
    seq = _latest(session, EntryKind.MEMBERSHIP, first.id)
    return (
        f"incident membership of sighting {first.id}: differs from entry {seq} in incident_id",
        seq,
    )


def _reparent_link(session: Session, world: World) -> tuple[str, int | None]:
    session.execute(update(Link).where(col(Link.id) == world.outlet.id).values(parent_id=None))
    seq = _latest(session, EntryKind.LINK, world.outlet.id)
    return f"link {world.outlet.id}: differs from entry {seq} in parent_id", seq


def _add_reader(session: Session, world: World) -> tuple[str, int | None]:
    row = {"link_id": world.other.id, "reader_id": world.vendor.id, "added_at": utcnow()}
    session.execute(insert(LinkReader).values(**row))
    seq = _latest(session, EntryKind.LINK, world.other.id)
    return f"link {world.other.id}: differs from entry {seq} in reader_ids", seq


@pytest.mark.parametrize(
    "tamper",
    [
        _move_plant,
        _move_plant_and_chain_it_again,
        _rescore_sighting,
        _delete_sighting,
        _insert_sighting,
        _edit_audit,
        _delete_audit,
        _move_membership,
        _reparent_link,
        _add_reader,
    ],
)
def test_a_row_changed_beside_the_application_fails_verify(
    session: Session, world: World, tamper: Tamper
) -> None:
    _verified(session, world)
    problem, seq = tamper(session, world)
    assert verify_chain(session, world.store).ok  # the chain alone cannot tell
    result = verify_evidence(session, world.store)
    assert (result.problem, result.broken_seq) == (problem, seq)
