"""Minting canaries for one link: realistic, unique, and never equal to a real customer."""

import hashlib
import math
import random
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from canaries.addresses import AddressMinter, Place
from canaries.couriers import Courier
from canaries.items import CHINA_STANDARD_TIME, ItemMinter, creation_time
from canaries.mobiles import (
    PREFIX_SHARES,
    Mobile,
    MobileForm,
    MobilePoolError,
    full_mobile,
    masked_mobile,
    privacy_mobile,
    take_pool_number,
)
from canaries.names import mint_name
from canaries.sampling import Weighted
from canaries.style import WEIGHT_BOUNDS, StyleProfile
from canaries.waybills import WaybillMinter, WaybillSource

DEFAULT_CONTROL_SHARE = 0.05
# Masked mobiles are redrawn until their prefix fits the style's mix (rejection sampling);
# past this many draws the last one stands.
MAX_PREFIX_DRAWS = 512
# Collisions are rare (the name x address space is huge), so running out of attempts means
# the delivery area or the pool is too small for the request, not bad luck.
MAX_ATTEMPTS = 200


class MintError(RuntimeError):
    """The link's profile cannot yield another canary under the rules."""


@dataclass(frozen=True, slots=True)
class MintedCanary:
    waybill_no: str
    courier: Courier
    name: str
    mobile: str  # display form only; the hidden middle of a masked mobile is mobile_secret
    mobile_form: MobileForm
    mobile_secret: str | None
    province: str
    city: str
    district: str
    district_code: str
    address: str  # the street-level part
    item: str
    weight_kg: float
    created_at: datetime
    control: bool

    @property
    def mobile_number(self) -> str:
        """The 11-digit number the canary stands for; secret for a masked mobile."""
        if self.mobile_form is MobileForm.MASKED and self.mobile_secret is not None:
            return self.mobile[:3] + self.mobile_secret + self.mobile[-4:]
        return self.mobile[:11]

    @property
    def name_address_key(self) -> tuple[str, str, str, str, str]:
        return (self.name, self.province, self.city, self.district, self.address)


@dataclass(slots=True)
class MobilePool:
    """The operator's own numbers for one link and rotation window, and what is used."""

    numbers: Sequence[str]
    used: set[str] = field(default_factory=set)
    used_extensions: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class LinkProfile:
    courier: Courier
    area: str | None = None  # a GB/T 2260 code (district, prefecture, province) or national
    category_mix: Mapping[str, float] | None = None
    mobile_form: MobileForm = MobileForm.MASKED
    pool: MobilePool | None = None
    privacy_separator: str = "转"
    window: tuple[date, date] | None = None  # creation dates, CST; default the last 7 days
    style: StyleProfile | None = None  # learned from the link's records; None: the default


_TABLES = threading.Lock()


def load_tables() -> None:
    """Build what minting reads (the division table, mobile segments by home, names) now,
    once per process: seconds of work that the first canary minted would otherwise do, with
    whatever lock its caller holds (a write transaction minting a burned canary's
    replacement). Callers at once wait for one build."""
    with _TABLES:
        Minter(LinkProfile(Courier.ZTO), random.Random(0)).mint_one()  # noqa: S311 (thrown away)


def customer_hash(salt: str, name: str, mobile: str) -> str:
    """How a courier hashes a real customer for the avoid-list: sha256(salt + name + mobile)."""
    return hashlib.sha256((salt + name + mobile).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AvoidList:
    """Salted hashes of real customers' name + 11-digit mobile, supplied by the courier."""

    salt: str
    hashes: Collection[str]

    def __contains__(self, canary: object) -> bool:
        if not isinstance(canary, MintedCanary):
            return False
        return customer_hash(self.salt, canary.name, canary.mobile_number) in self.hashes


class Minter:
    """Mints canaries for one link profile.

    `rng` is seeded in tests; in production it defaults to the operating system's
    cryptographic source, so nobody can replay the stream. `taken` answers whether a
    canary's waybill number or name + address is already stored elsewhere.
    """

    def __init__(
        self,
        profile: LinkProfile,
        rng: random.Random | None = None,
        *,
        control_share: float = DEFAULT_CONTROL_SHARE,
        avoid: AvoidList | None = None,
        taken: Callable[[MintedCanary], bool] | None = None,
        waybill_source: WaybillSource | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not 0.0 <= control_share <= 1.0:
            raise ValueError(f"control share {control_share} is not between 0 and 1")
        if profile.mobile_form is not MobileForm.MASKED and not (
            profile.pool and profile.pool.numbers
        ):
            raise MintError(f"{profile.mobile_form} mobiles need the operator's number pool")
        self.profile = profile
        self.rng = rng if rng is not None else random.SystemRandom()
        self.control_share = control_share
        self.avoid = avoid
        self.taken = taken
        self.clock = clock or (lambda: datetime.now(CHINA_STANDARD_TIME))
        style = profile.style
        self._addresses = AddressMinter(profile.area, style)
        mix = profile.category_mix or (style.category_mix if style is not None else None)
        self._items = ItemMinter(mix or None)
        self._hours = Weighted.from_mapping(style.hours) if style and style.hours else None
        self._weekdays = style.weekdays if style and style.weekdays else None
        self._weights = Weighted.from_mapping(style.weights) if style and style.weights else None
        self._prefixes = _prefix_acceptance(style.mobile_prefixes) if style else None
        self._waybills = WaybillMinter(waybill_source)
        self._seen_waybills: set[str] = set()
        self._seen_name_addresses: set[tuple[str, str, str, str, str]] = set()

    def mint(self, count: int) -> list[MintedCanary]:
        """`count` canaries, of which round(count * control_share) are controls."""
        controls = set(self.rng.sample(range(count), round(count * self.control_share)))
        return [self.mint_one(control=i in controls) for i in range(count)]

    def mint_one(self, control: bool = False) -> MintedCanary:
        for _ in range(MAX_ATTEMPTS):
            canary, mobile = self._candidate(control)
            if self._acceptable(canary):
                self._seen_waybills.add(canary.waybill_no)
                self._seen_name_addresses.add(canary.name_address_key)
                return canary
            self._release(mobile)
        raise MintError(f"no unique canary after {MAX_ATTEMPTS} attempts for {self.profile}")

    def _window(self, now: datetime) -> tuple[date, date]:
        today = now.astimezone(CHINA_STANDARD_TIME).date()
        if self.profile.window is not None:
            start, end = self.profile.window
            return start, min(end, today)
        return today - timedelta(days=6), today

    def _candidate(self, control: bool) -> tuple[MintedCanary, Mobile]:
        rng = self.rng
        address = self._addresses.address(rng)
        place = address.place
        now = self.clock()
        created_at = creation_time(
            rng,
            place.province_code,
            *self._window(now),
            now=now,
            hours=self._hours,
            weekdays=self._weekdays,
        )
        mobile = self._mobile(place)
        item = self._items.draw(rng)
        weight_kg = item.weight_kg
        if self._weights is not None:
            weight_kg = _weight_in_bin(rng, self._weights.draw(rng))
        canary = MintedCanary(
            waybill_no=self._waybills.mint(rng, self.profile.courier, created_at.date()),
            courier=self.profile.courier,
            name=mint_name(rng).full,
            mobile=mobile.display,
            mobile_form=mobile.form,
            mobile_secret=mobile.secret,
            province=place.province,
            city=place.city,
            district=place.district,
            district_code=place.code,
            address=address.street,
            item=item.name,
            weight_kg=weight_kg,
            created_at=created_at,
            control=control,
        )
        return canary, mobile

    def _mobile(self, place: Place) -> Mobile:
        pool = self.profile.pool
        if self.profile.mobile_form is MobileForm.MASKED or pool is None:
            mobile = masked_mobile(self.rng, place)
            accept = self._prefixes or {}
            for _ in range(MAX_PREFIX_DRAWS if accept else 0):
                if self.rng.random() < accept.get(mobile.display[:3], 0.0):
                    break
                mobile = masked_mobile(self.rng, place)
            return mobile
        try:
            if self.profile.mobile_form is MobileForm.FULL:
                return full_mobile(take_pool_number(self.rng, pool.numbers, pool.used, place))
            mobile = privacy_mobile(
                self.rng,
                self.rng.choice(pool.numbers),
                pool.used_extensions,
                self.profile.privacy_separator,
            )
        except MobilePoolError as error:
            raise MintError(f"the link's number pool cannot supply a mobile: {error}") from error
        pool.used_extensions.add(f"{mobile.number}转{mobile.display[12:]}")
        return mobile

    def _release(self, mobile: Mobile) -> None:
        pool = self.profile.pool
        if pool is None:
            return
        if mobile.form is MobileForm.FULL:
            pool.used.discard(mobile.number)
        elif mobile.form is MobileForm.PRIVACY:
            pool.used_extensions.discard(f"{mobile.number}转{mobile.display[12:]}")

    def _acceptable(self, canary: MintedCanary) -> bool:
        if canary.waybill_no in self._seen_waybills:
            return False
        if canary.name_address_key in self._seen_name_addresses:
            return False
        if self.avoid is not None and canary in self.avoid:
            return False
        return not (self.taken is not None and self.taken(canary))


def _weight_in_bin(rng: random.Random, index: int) -> float:
    """A weight inside one of the style's weight bins, log-uniform as parcel weights are."""
    low = WEIGHT_BOUNDS[index - 1] if index > 0 else 0.05
    high = WEIGHT_BOUNDS[index] if index < len(WEIGHT_BOUNDS) else 2 * WEIGHT_BOUNDS[-1]
    return round(low * math.pow(high / low, rng.random()), 2)


def _prefix_acceptance(shares: Mapping[str, float]) -> dict[str, float] | None:
    """Acceptance chance per prefix that turns the default prefix mix into the style's:
    target over default share, scaled so the likeliest prefix is always accepted."""
    if not shares:
        return None
    ratios = {p: share / PREFIX_SHARES[p] for p, share in shares.items() if p in PREFIX_SHARES}
    if not ratios:
        return None
    top = max(ratios.values())
    return {p: ratio / top for p, ratio in ratios.items()}
