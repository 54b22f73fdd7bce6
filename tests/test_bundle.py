"""An incident's evidence bundle, checked the way a third party would check it."""

import hashlib
import io
import json
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.auth.actor import Actor
from app.models.audit import AuditEntry
from app.models.canaries import PlantChannel
from app.models.keys import Role
from app.planting.service import mint_canaries
from app.settings import Settings
from attribution.kinds import LinkKind
from tests.conftest import KeyFactory, LinkFactory, bearer
from tests.test_incidents import listing

GENESIS = "0" * 64
URL = "http://market.example/listing/<script>alert(1)</script>"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("honeytrace-bundle-*"))


def test_the_bundle_holds_what_a_third_party_needs_to_check_it(
    client: TestClient,
    session: Session,
    settings: Settings,
    make_key: KeyFactory,
    make_link: LinkFactory,
) -> None:
    region = make_link("浙江大区", LinkKind.REGION, region="330100")
    outlet = make_link("西湖网点", LinkKind.OUTLET, region)
    make_link("滨江网点", LinkKind.OUTLET, region, region="330108")
    minted = mint_canaries(
        session, Actor.cli(), outlet.id, 20, PlantChannel.CLI, rng=random.Random(9)
    ).planted
    session.commit()
    investigator = bearer(make_key(Role.INVESTIGATOR))
    surfaced = minted[:3]
    for n in (2, 3):  # the listing seen twice as it grew: two evidence blobs
        body = {"kind": "listing", "text": listing(surfaced[:n]), "url": URL, "reference": str(n)}
        response = client.post("/v1/sightings", json=body, headers=investigator)
        assert response.status_code == 202, response.text
    (item,) = client.get("/v1/incidents", headers=investigator).json()["items"]
    incident = client.get(f"/v1/incidents/{item['id']}", headers=investigator).json()

    before = _leftovers()
    response = client.get(f"/v1/incidents/{item['id']}/bundle", headers=investigator)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f"incident-{item['id']}.zip" in response.headers["content-disposition"]
    assert _leftovers() <= before  # the temporary file is gone once sent
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())

    # Every file but the manifest is listed with its sha256 and size, and nothing else is.
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["incident_id"] == item["id"]
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == names - {"manifest.json"}
    for path, entry in listed.items():
        data = archive.read(path)
        assert _sha256(data) == entry["sha256"] and len(data) == entry["bytes"], path
    assert {"report.html", "report.json", "records.json", "chain.json"} <= names

    # The evidence blobs are the sightings' evidence, named by their sha256.
    evidence = {s["evidence_sha256"] for s in incident["sightings"]}
    assert len(evidence) == 2
    assert {n for n in names if n.startswith("evidence/")} == {f"evidence/{d}" for d in evidence}
    for digest in evidence:
        assert _sha256(archive.read(f"evidence/{digest}")) == digest

    # Each chain entry's hash is recomputed from its fields, and entries next to each other
    # in the log link up; the canaries' mint and plant and every sighting are there.
    chain = json.loads(archive.read("chain.json"))
    assert "hashlib.sha256" in chain["how_to_verify"]["entries"]
    entries: list[dict[str, Any]] = chain["entries"]
    by_seq = {e["seq"]: e for e in entries}
    for entry in entries:
        recomputed = _sha256(
            (entry["prev_hash"] + entry["entry"] + (entry["blob_sha256"] or "")).encode()
        )
        assert recomputed == entry["hash"], entry["seq"]
        sealed = json.loads(entry["entry"])
        assert (sealed["seq"], sealed["kind"], sealed["subject"]) == (
            entry["seq"],
            entry["kind"],
            entry["subject"],
        )
        previous = by_seq.get(entry["seq"] - 1)
        if previous is not None:
            assert entry["prev_hash"] == previous["hash"]
        if entry["seq"] == 1:
            assert entry["prev_hash"] == GENESIS
    canary_ids = {str(c.id) for c in surfaced}
    kinds: dict[str, set[str]] = {}
    for entry in entries:
        kinds.setdefault(entry["subject"], set()).add(entry["kind"])
    assert all(kinds[c] == {"mint", "plant"} for c in canary_ids)
    sighting_entries = [json.loads(e["entry"]) for e in entries if e["kind"] == "sighting"]
    assert {e["subject"] for e in sighting_entries} == {s["id"] for s in incident["sightings"]}
    for e, blob in zip(
        sighting_entries,
        (x["blob_sha256"] for x in entries if x["kind"] == "sighting"),
        strict=True,
    ):
        assert e["data"]["evidence_sha256"] == blob and blob in evidence

    # The mint and plant records, and the report.
    records = json.loads(archive.read("records.json"))
    assert {c["id"] for c in records["canaries"]} == canary_ids
    assert {c["waybill_no"] for c in records["canaries"]} == {c.waybill_no for c in surfaced}
    assert {p["link_id"] for p in records["plants"]} == {str(outlet.id)}
    report = json.loads(archive.read("report.json"))
    assert report["incident"]["candidates"][0]["link_id"] == str(outlet.id)
    check = report["evidence_check"]
    assert check["entries"] == len(entries) and check["entries_broken"] == []
    assert check["blobs"] == 2 and check["blobs_altered"] == check["blobs_missing"] == []
    assert check["log_head"]["seq"] >= max(by_seq)
    assert report["generated_by"].startswith("key:")
    html = archive.read("report.html").decode()
    assert "西湖网点" in html and incident["explanation"]["en"].split(",")[0] in html
    assert "<script>" not in html and "&lt;script&gt;" in html

    audit = session.exec(select(AuditEntry).where(AuditEntry.action == "incident.bundle")).all()
    assert [a.target_id for a in audit] == [item["id"]]

    # A blob altered on disk since it was chained is named in the next bundle's check.
    altered = sorted(evidence)[0]
    (Path(settings.evidence_dir) / altered[:2] / altered).write_bytes(b"rewritten")
    again = client.get(f"/v1/incidents/{item['id']}/bundle", headers=investigator)
    rechecked = json.loads(zipfile.ZipFile(io.BytesIO(again.content)).read("report.json"))
    assert rechecked["evidence_check"]["blobs_altered"] == [altered]
