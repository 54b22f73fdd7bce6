"""Calls and messages to the operator's pool numbers, as a provider reported them (a Twilio
webhook, a privacy-number service's callback, Twilio's own listing of them).

A contact's content (an SMS body, a call's transcript) is matched together with the number
it reached: a canary's name (spelt by ear: homophones count), waybill number or address
names it. A contact without content still reached a canary's number; the app decides which
canary that was (app.telephony.contacts).
"""

import re
from dataclasses import dataclass
from datetime import datetime

from canaries.hostile import clean_label
from watchers.observations import Evidence, Observation, SourceKind

TWILIO = "twilio"  # the provider name Twilio's contacts are kept under


def e164(text: str) -> str:
    """+86 and eleven digits from the usual spellings (spaces, dashes, 0086, none)."""
    digits = re.sub(r"[\s\-()]", "", text)
    digits = re.sub(r"^(?:0086|86)(?=1\d{10}$)", "+86", digits)
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        digits = "+86" + digits
    return digits


@dataclass(frozen=True)
class Contact:
    """One call or message; `sid` is the provider's id for it (CallSid, MessageSid, event id)."""

    provider: str
    kind: SourceKind  # SMS or CALL
    sid: str
    to_number: str  # as the provider wrote it
    from_number: str
    received_at: datetime
    raw: bytes  # the provider's request or record, kept as evidence
    content_type: str
    text: str | None = None
    extension: str | None = None  # a privacy number's extension: names one canary

    def __post_init__(self) -> None:
        # What is kept of the contact in text columns is cleaned here (canaries.hostile);
        # the provider's raw request stays whole in `raw`, the evidence.
        for name in ("sid", "to_number", "from_number", "extension"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, clean_label(value))

    @property
    def to(self) -> str:
        return e164(self.to_number)

    @property
    def line(self) -> str:
        """The number reached as a canary carries it: national digits, and `转` plus the
        extension for a privacy number."""
        local = self.to[3:] if self.to.startswith("+86") else self.to
        return f"{local}转{self.extension}" if self.extension else local

    @property
    def source_id(self) -> str:
        return f"{self.provider}:{self.sid}"

    def observation(self, *, with_text: bool = True) -> Observation:
        """What the contact showed: the number it reached, and its content if it has any."""
        text = self.text if with_text and self.text and self.text.strip() else None
        return Observation(
            kind=self.kind,
            source_id=self.source_id,
            observed_at=self.received_at,
            fields={"mobile": self.line},
            text=text,
            evidence=Evidence(self.raw, self.content_type),
            context={
                "provider": self.provider,
                "sid": self.sid,
                "to": self.to,
                "from": self.from_number[:32],
            },
        )

    def observations(self) -> list[Observation]:
        """The contact's content to match, if it says anything."""
        return [self.observation()] if self.text and self.text.strip() else []
