"""Courier brands whose waybills honeytrace can mint and recognise."""

from enum import StrEnum


class Courier(StrEnum):
    SF = "sf"
    ZTO = "zto"
    YTO = "yto"
    STO = "sto"
    YUNDA = "yunda"
    JD = "jd"
    JT = "jt"
    EMS = "ems"
    DEPPON = "deppon"
