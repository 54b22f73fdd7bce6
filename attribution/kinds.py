"""The kinds of link in a courier's data chain."""

from enum import StrEnum


class LinkKind(StrEnum):
    HEAD_OFFICE = "head_office"
    REGION = "region"
    OUTLET = "outlet"
    COURIER_STAFF = "courier_staff"
    PLATFORM = "platform"
    MERCHANT = "merchant"
    VENDOR = "vendor"
    CALL_CENTRE = "call_centre"
    SYSTEM = "system"


class Channel(StrEnum):
    """Where a canary surfaced (the app's SightingSource, one for one)."""

    DUMP = "dump"
    SITE = "site"
    SMS = "sms"
    CALL = "call"
    ORDER = "order"
    REPORT = "report"
