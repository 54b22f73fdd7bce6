"""Observations refuse what no watcher should produce, and evidence names its bytes."""

import hashlib
from datetime import UTC, datetime

import pytest

from watchers.observations import Evidence, Observation, SourceKind

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_an_observation_needs_an_id_and_something_to_match() -> None:
    with pytest.raises(ValueError, match="source id"):
        Observation(SourceKind.SMS, "", NOW, text="x")
    with pytest.raises(ValueError, match="source id"):
        Observation(SourceKind.SMS, "x" * 501, NOW, text="x")
    with pytest.raises(ValueError, match="text or fields"):
        Observation(SourceKind.ORDER, "o-1", NOW)
    with pytest.raises(ValueError, match="unknown observation fields: ssn"):
        Observation(SourceKind.ORDER, "o-1", NOW, fields={"name": "张伟", "ssn": "1"})
    ok = Observation(SourceKind.ORDER, "o-1", NOW, fields={"name": "张伟"})
    assert ok.fields == {"name": "张伟"} and ok.text is None


def test_evidence_is_named_by_its_sha256() -> None:
    evidence = Evidence("短信内容".encode(), "text/plain; charset=utf-8")
    assert evidence.sha256 == hashlib.sha256("短信内容".encode()).hexdigest()
