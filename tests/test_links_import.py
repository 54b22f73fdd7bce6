"""Bulk CSV import: UTF-8 or GB18030, parents by ref, every bad row named, all or nothing."""

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models.keys import Role
from app.models.links import Link
from attribution.kinds import LinkKind
from tests.conftest import KeyFactory, LinkFactory, bearer

HEADER_EN = "ref,name,kind,region,courier,parent,valid_from\n"
HEADER_ZH = "编号,名称,类型,行政区划代码,快递品牌,上级,生效时间\n"


def _upload(client: TestClient, headers: dict[str, str], data: bytes) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/v1/links/import", files={"file": ("links.csv", data, "text/csv")}, headers=headers
    )
    return {"status": response.status_code, **response.json()}


def _count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Link)).one()


def test_import_utf8_with_parents_named_later_in_the_file(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    text = HEADER_EN + (
        "o1,西湖网点,outlet,330106,sto,r1,2026-01-01\n"
        "hq,总部,head_office,310000,sto,,\n"
        "r1,浙江大区,region,330000,sto,hq,2026-01-01T08:00:00+08:00\n"
    )
    report = _upload(client, admin_headers, text.encode())
    assert report["status"] == 200, report
    assert report["created"] == 3
    by_ref = {x.external_ref: x for x in session.exec(select(Link)).all()}
    assert by_ref["o1"].parent_id == by_ref["r1"].id
    assert by_ref["r1"].parent_id == by_ref["hq"].id
    assert by_ref["hq"].parent_id is None
    assert by_ref["o1"].valid_from.isoformat() == "2025-12-31T16:00:00+00:00"
    assert report["ids"][0] == str(by_ref["o1"].id)


def test_import_gb18030_with_chinese_headers_and_a_bom_variant(
    client: TestClient, session: Session, admin_headers: dict[str, str], make_link: LinkFactory
) -> None:
    existing = make_link("已有总部", LinkKind.HEAD_OFFICE)
    text = HEADER_ZH + f"g1,广州天河网点,outlet,440106,yunda,{existing.id},\n"
    report = _upload(client, admin_headers, text.encode("gb18030"))
    assert report["status"] == 200, report
    link = session.exec(select(Link).where(Link.external_ref == "g1")).one()
    assert link.name == "广州天河网点" and link.parent_id == existing.id

    bom = ("\ufeff" + HEADER_EN + "g2,深圳南山网点,outlet,440305,yunda,g1,\n").encode()
    report = _upload(client, admin_headers, bom)
    assert report["status"] == 200, report
    assert session.exec(select(Link).where(Link.external_ref == "g2")).one().parent_id == link.id


def test_every_bad_row_is_reported_and_nothing_is_written(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    before = _count(session)
    text = HEADER_EN + (
        "a,好网点,outlet,330106,zto,,\n"
        "b,坏地区,outlet,999999,zto,,\n"
        "c,坏类型,warehouse,330106,zto,,\n"
        "a,重复编号,outlet,330106,zto,,\n"
        "d,无上级,outlet,330106,zto,nobody,\n"
        "e,环一,outlet,330106,zto,f,\n"
        "f,环二,outlet,330106,zto,e,\n"
        "g,列数不对,outlet\n"
        "h,,outlet,330106,zto,,\n"
        "i,坏时间,outlet,330106,zto,,yesterday\n"
    )
    report = _upload(client, admin_headers, text.encode())
    assert report["status"] == 422
    problems = {(e["row"], e["field"]) for e in report["errors"]}
    assert problems == {
        (3, "region"),
        (4, "kind"),
        (5, "ref"),
        (6, "parent"),
        (7, "parent"),
        (8, "parent"),
        (9, "row"),
        (10, "name"),
        (11, "valid_from"),
    }, report["errors"]
    assert report["error_count"] == 9
    assert _count(session) == before


def test_file_level_problems(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert _upload(client, admin_headers, b"")["status"] == 422
    assert _upload(client, admin_headers, HEADER_EN.encode())["status"] == 422
    unknown = _upload(client, admin_headers, b"name,kind,region,courier,colour\n")
    assert unknown["status"] == 422 and unknown["errors"][0]["field"] == "colour"
    missing = _upload(client, admin_headers, b"name,kind\n")
    assert {e["field"] for e in missing["errors"]} == {"region", "courier"}
    binary = _upload(client, admin_headers, bytes(range(256)) * 4)
    assert binary["status"] == 422
    huge = _upload(client, admin_headers, b"x" * (5 << 20))
    assert huge["status"] == 413


def test_partner_imports_only_below_its_scope(
    client: TestClient, session: Session, make_key: KeyFactory, make_link: LinkFactory
) -> None:
    platform = make_link("平台", LinkKind.PLATFORM)
    outsider = make_link("别的平台", LinkKind.PLATFORM)
    partner = bearer(make_key(Role.PARTNER, platform))
    bad = HEADER_EN + f"m1,店铺,merchant,330106,zto,{outsider.id},\nm2,孤儿,merchant,330106,zto,,\n"
    report = _upload(client, partner, bad.encode())
    assert report["status"] == 422
    assert {(e["row"], e["field"]) for e in report["errors"]} == {(2, "parent"), (3, "parent")}
    good = (
        HEADER_EN + f"m1,店铺,merchant,330106,zto,{platform.id},\nm2,分店,merchant,330106,zto,m1,\n"
    )
    assert _upload(client, partner, good.encode())["status"] == 200
    assert str(uuid.UUID(str(platform.id))) in {
        str(x.parent_id) for x in session.exec(select(Link)).all()
    }
