"""Matching observations against the canaries: no database, no transaction.

Records (an order, a listing's regex record) are matched field by field, and all the
records of a batch at once; text (a listing, an SMS, a transcript) is searched for the
canaries it names; a record that comes with text is matched with both. Each canary is
named once per observation, by its best match. A leaked file is matched as it is read
(watchers.scan); its matched rows become `Found`s here.
"""

from collections.abc import Sequence

from app.intake.sightings import Found, Seen
from canaries.matching import Matcher
from watchers.observations import Observation, SourceKind
from watchers.scan import ScanResult


def _excerpt(record: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in record.items())


def match_observations(matcher: Matcher, observations: Sequence[Observation]) -> list[Seen]:
    """What each observation names, in order. Records without text are matched in batches
    (a screening batch of 10,000 orders is one call into the matcher)."""
    found: list[dict[bytes, Found]] = [{} for _ in observations]

    def keep(at: int, candidate: Found) -> None:
        best = found[at].get(candidate.canary_id.bytes)
        if best is None or (candidate.score or 0.0) > (best.score or 0.0):
            found[at][candidate.canary_id.bytes] = candidate

    for orders in (False, True):
        batch = [
            i
            for i, o in enumerate(observations)
            if o.fields and not o.text and (o.kind == SourceKind.ORDER) == orders
        ]
        records = [dict(observations[i].fields) for i in batch]
        # A brusher writes the canary's name and address with a phone of its own: on an
        # order, a mobile that differs counts as missing (canaries.matching states the bound).
        for row, match in matcher.match_records(records, orderer_mobile=orders):
            keep(batch[row], Found.of(_excerpt(records[row]), match))
    for at, observation in enumerate(observations):
        if not observation.text:
            continue
        if observation.fields:
            record = dict(observation.fields)
            excerpt = _excerpt(record)
            for _, match in matcher.match_records([record]):
                keep(at, Found.of(excerpt, match))
            combined = f"{excerpt} | {observation.text}"
            for match in matcher.match_combined(record, observation.text):
                keep(at, Found.of(combined, match))
        for excerpt, match in matcher.match_text(observation.text):
            keep(at, Found.of(excerpt, match))
    return [
        Seen(observation, tuple(sorted(named.values(), key=lambda f: -(f.score or 0.0))))
        for observation, named in zip(observations, found, strict=True)
    ]


def seen_in_file(observation: Observation, result: ScanResult, *, rows_apart: bool) -> Seen:
    """A file's matched rows as what its observation names. `rows_apart`: each row is its
    own sighting (a leaked dump); otherwise a canary is named once per file, by its first
    row (a sample a person or a listing handed over)."""
    found = [
        Found.of(
            m.line,
            m.match,
            part=f"{m.member}|{m.row}" if rows_apart else "",
            where={"member": m.member, "row": m.row} if rows_apart else {},
        )
        for m in result.matches
    ]
    return Seen(observation, tuple(found))
