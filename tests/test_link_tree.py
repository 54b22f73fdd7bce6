"""The link tree grouping and attribution read is kept by the process while the links do
not change (reading 20,000 links took most of a second inside the write transaction that
groups each sighting), and read again after any change a link or a reader can take."""

from sqlmodel import Session

from app.auth.actor import Actor
from app.incidents.exposures import links_tree
from app.links.schemas import LinkUpdate
from app.links.service import add_reader, delete_link, remove_reader, update_link
from app.models.links import Link
from attribution.kinds import LinkKind
from canaries.couriers import Courier
from tests.conftest import LinkFactory


def test_the_tree_is_kept_while_the_links_do_not_change_and_read_again_after_each_change(
    session: Session, make_link: LinkFactory
) -> None:
    region = make_link("华东大区", LinkKind.REGION)
    outlet = make_link("杭州西湖网点", LinkKind.OUTLET, parent=region)
    vendor = make_link("面单软件商", LinkKind.VENDOR)
    tree = links_tree(session)
    assert links_tree(session) is tree  # nothing changed: the same tree, not read again
    assert tree.exposure_set(outlet.id) == {outlet.id, region.id}

    def figure() -> float:
        return links_tree(session).links[outlet.id].records_per_day

    update_link(session, Actor.cli(), outlet.id, LinkUpdate(records_per_day=4321))
    session.commit()
    assert figure() == 4321
    add_reader(session, Actor.cli(), outlet.id, vendor.id)
    session.commit()
    assert links_tree(session).exposure_set(outlet.id) == {outlet.id, region.id, vendor.id}
    remove_reader(session, Actor.cli(), outlet.id, vendor.id)
    session.commit()
    assert links_tree(session).exposure_set(outlet.id) == {outlet.id, region.id}
    delete_link(session, Actor.cli(), vendor.id)
    session.commit()
    assert vendor.id not in links_tree(session).links
    late = make_link("杭州拱墅网点", LinkKind.OUTLET, parent=region)
    assert links_tree(session).exposure_set(late.id) == {late.id, region.id}


def test_a_link_written_around_the_service_is_seen_too(
    session: Session, make_link: LinkFactory
) -> None:
    """A repair in SQL chains nothing in the evidence log: the counts of the stamp see it."""
    region = make_link("华南大区", LinkKind.REGION)
    assert set(links_tree(session).links) >= {region.id}
    repaired = Link(name="深圳南山网点", kind=LinkKind.OUTLET, region_code="440305",
                    courier=Courier.ZTO, parent_id=region.id)  # fmt: skip
    session.add(repaired)
    session.commit()
    assert links_tree(session).exposure_set(repaired.id) == {repaired.id, region.id}
