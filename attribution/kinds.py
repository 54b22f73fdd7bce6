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
