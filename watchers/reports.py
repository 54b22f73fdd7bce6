"""Reports people file: a pasted listing, an SMS as received, a note of a call, or a file
they were sent. Each is one observation, named by the reporter's reference or by a hash of
what was reported, so filing the same thing twice makes nothing twice."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from watchers.observations import Evidence, Observation, SourceKind
from watchers.scan import ScanResult

ReportKind = Literal["listing", "sms", "call_note"]
_KINDS: dict[str, SourceKind] = {"sms": SourceKind.SMS, "call_note": SourceKind.CALL}


@dataclass(frozen=True)
class PastedReport:
    """Text a person pasted: what it was, where and when they saw it."""

    kind: ReportKind
    text: str
    reporter: str
    observed_at: datetime
    url: str | None = None
    phone_number: str | None = None
    reference: str | None = None
    reporter_role: str = ""  # a partner's reports are kept apart from its incidents (rule 3)

    def observations(self) -> list[Observation]:
        record = {
            "kind": self.kind,
            "text": self.text,
            "url": self.url,
            "phone_number": self.phone_number,
            "observed_at": self.observed_at.isoformat(),
            "reporter": self.reporter,
        }
        raw = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
        content = json.dumps(
            [self.kind, self.text, self.url, self.phone_number], ensure_ascii=False
        )
        context = {"report_kind": self.kind, "reporter": self.reporter}
        if self.reporter_role:
            context["reporter_role"] = self.reporter_role
        if self.url:
            context["url"] = self.url
        if self.phone_number:
            context["phone_number"] = self.phone_number
        return [
            Observation(
                kind=_KINDS.get(self.kind, SourceKind.REPORT),
                source_id=self.reference
                or "sha256:" + hashlib.sha256(content.encode()).hexdigest(),
                observed_at=self.observed_at,
                text=self.text,
                evidence=Evidence(raw, "application/json"),
                context=context,
            )
        ]


@dataclass(frozen=True)
class FileReport:
    """A sample or dump a person was sent, once read like a dump (`result`). Only its hash
    and the matched rows are kept (rule 5), never the file."""

    name: str
    reporter: str
    observed_at: datetime
    result: ScanResult
    url: str | None = None
    reference: str | None = None
    reporter_role: str = ""  # as PastedReport's

    def observations(self) -> list[Observation]:
        context = {"report_kind": "file", "reporter": self.reporter, "file": self.name}
        if self.reporter_role:
            context["reporter_role"] = self.reporter_role
        context |= {"file_sha256": self.result.sha256, "rows": str(self.result.report.rows)}
        if self.url:
            context["url"] = self.url
        if self.result.error:
            context["read_error"] = self.result.error[:200]
        return [
            Observation(
                kind=SourceKind.REPORT,
                source_id=self.reference or f"sha256:{self.result.sha256}",
                observed_at=self.observed_at,
                text=f"file {self.name}",
                context=context,
            )
        ]
