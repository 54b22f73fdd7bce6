"""Chinese full names drawn from real surname and given-name character statistics.

Surnames come from the published ranking (data/surnames.tsv, top five 王李张刘陈 about 31%).
Given names are built character by character from gender-specific pools, with separate
pools for the first and second position of a two-character given name, because position
matters in Chinese naming (建 and 秀 lead, 华 and 英 close). About 91% of real full names
have three characters and 6% two; the rest are compound surnames (欧阳, 司马, ...) or the
four-character double-barrelled names (父姓 + 母姓 + given name) of recent years.
"""

import random
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

from canaries.sampling import Weighted, tiered

# Share of full names with a one-character given name (two-character full names).
SINGLE_GIVEN_SHARE = 0.06
# Share of double-barrelled surnames (张李 + given name), a recent naming fashion.
DOUBLE_BARRELLED_SHARE = 0.028
# Share of two-character given names taken whole (秀英, 建国) rather than built per character.
WHOLE_GIVEN_SHARE = 0.12
# Share of reduplicated female given names (婷婷, 丹丹).
REDUPLICATED_SHARE = 0.04

# Compound surnames with their population share in percent (all of them together are about
# 0.1% of people; 欧阳 is by far the largest).
COMPOUND_SURNAMES: dict[str, float] = {
    "欧阳": 0.068,
    "上官": 0.0036,
    "司马": 0.0030,
    "诸葛": 0.0030,
    "东方": 0.0018,
    "皇甫": 0.0025,
    "令狐": 0.0012,
    "慕容": 0.0010,
    "司徒": 0.0030,
    "夏侯": 0.0012,
    "尉迟": 0.0008,
    "公孙": 0.0008,
    "端木": 0.0008,
    "宇文": 0.0006,
    "长孙": 0.0006,
    "南宫": 0.0004,
}


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True, slots=True)
class PersonName:
    surname: str
    given: str
    gender: Gender

    @property
    def full(self) -> str:
        return self.surname + self.given


_MALE_FIRST = tiered(
    [
        ("建国志文明永俊子浩宇家海晓伟小金立天", 8),
        ("德振鹏新光春大学世兴庆正长卫云红成东博嘉梓一鑫宏佳思泽睿承亚中清雨宗胜", 4),
        (
            "少万有玉忠利荣保宝福顺乐凯锦晨昊皓辰奕逸铭书瑞启仁义安欣景亦泓峻航宸煜炳汉秋冬军向朝跃",
            2,
        ),
        (
            "耀伯仲继绍彦昌广发贵富茂桂松柏树林森江河洪波涛泉山岩峰钢铁锋锐勇毅刚强健康寿喜祥吉和平"
            "宁兆元亨开达通远鸿飞翔腾龙雄威武士诚信智贤良善道华夏邦民",
            1,
        ),
    ]
)
_MALE_SECOND = tiered(
    [
        ("伟强军华平明辉林杰龙峰涛斌波东刚勇宇浩鹏超飞磊鑫阳亮", 8),
        ("成文国新宁凯健俊然轩博睿泽航晨豪辰铭彬翔洋旭坤诚毅兵建民荣生祥福庆海江山松春元良才", 4),
        (
            "忠义德昌志武勋光彪虎雄坚钢锋锐威贤智远达通康安泰和顺发财宝贵富喜全胜利奇骏驰腾霖森淼"
            "烨炜煜哲楠琛瑜璋",
            2,
        ),
        (
            "杨柏桥川河洲岳岭石岩晖曦晟昊旻昕晔皓瀚澜渊源溪沛润涌潇熙焕炎灿耀钧铮锴镇锟锦冬秋夏泉正"
            "中玮琦璞瑞恒悦恺聪敏捷迪逸遥宸宏宽寒宗定实",
            1,
        ),
    ]
)
_MALE_SINGLE = tiered(
    [
        ("伟强磊军洋勇杰涛明超平刚辉鹏华飞鑫波斌宇浩", 8),
        ("凯健俊帆帅旭宁龙林阳亮成峰东毅坤博超彬斌锋兵", 4),
        ("鸣亮岩松柏涛健康庆诚铭睿哲晨昊翔瑞", 2),
    ]
)
_FEMALE_FIRST = tiered(
    [
        ("秀丽玉桂美晓春海红艳金小雪静文佳欣", 8),
        ("雅婷思梦慧淑凤月彩子雨可紫诗梓若嘉一丹冬翠爱建亚莉明燕晶惠素巧琳", 4),
        (
            "婉妙娅姗倩颖颜语梅兰菊荷莲芳芬萍薇芸蕾蓉菲洁清冰霜露云霞虹彤瑶瑾璐琪琦瑞馨心怡悦乐安宁"
            "玲珊珍秋夏晴玥曼米",
            2,
        ),
        ("书舒芷芮苗苏荣莹萌蓓蔓蕊蕙依伊佩俊娥娇媛嫣婕婧妍妮娜姝家宛宜容新益永有幼育亦艺忆", 1),
        ("韵歆絮绣锦琼昕晗暄晏芊芙蓁菡茵萃馥雁霓霏黛妙妤娴婵", 1),
    ]
)
_FEMALE_SECOND = tiered(
    [
        ("英兰芳娟霞红华梅燕萍玲丽艳琴云莉敏静婷娜", 8),
        ("颖洁倩琳雪慧涵悦怡妍欣茹瑶菲月珍凤芬蓉秀花香平琼晶丹宁荣翠", 4),
        (
            "萱琪璐馨彤雯薇蕾嘉佳琦瑾婧媛娇姣娥妹姿姝婉岚露晴梦诗蓓蕊芝莲菊荷苗清冰君仪儿然希曦淇漪"
            "灵桐楠",
            2,
        ),
        ("珊瑜璇琬瑛珂珠钰鑫芸芷茜莎苓萌莹蔓蓝眉黛卿姗影语言汐沫涓潇湉烟笑筱纯素绮缘美羽翎聪", 1),
        ("璟琰瑗婕妤娉姬嫚婀媚苒芊芙蓁薰蕴菡荔茵萃葳馥雁鸾霓雯霏颦韵歆絮绫绣锦绢缨钗铃昕晗暄晏", 1),
    ]
)
_FEMALE_SINGLE = tiered(
    [
        ("芳娜敏静丽艳娟霞燕玲婷红", 8),
        ("颖琳莉萍洁雪慧倩梅琴丹晶云英华玉兰", 4),
        ("佳欣怡悦瑶琪璐薇菲蕾彤岚露茜莹妍", 2),
    ]
)
_REDUPLICABLE = "婷丹晶莉娜静欣璐琳菲佳悦萌甜倩露"
_MALE_WHOLE = {
    "建华": 10,
    "建国": 10,
    "建军": 10,
    "国强": 8,
    "志强": 8,
    "志明": 6,
    "海涛": 6,
    "俊杰": 6,
    "浩然": 6,
    "子轩": 6,
    "宇轩": 5,
    "建平": 6,
    "建伟": 5,
    "国华": 5,
    "永强": 5,
    "文杰": 5,
    "晓东": 5,
    "明辉": 4,
    "志刚": 5,
    "国平": 4,
    "卫东": 4,
    "红军": 4,
    "德明": 3,
    "浩宇": 5,
}
_FEMALE_WHOLE = {
    "秀英": 30,
    "桂英": 20,
    "秀兰": 18,
    "玉兰": 15,
    "桂兰": 12,
    "秀珍": 12,
    "凤英": 10,
    "玉梅": 10,
    "秀云": 8,
    "玉珍": 8,
    "桂芳": 8,
    "丽娟": 8,
    "海燕": 10,
    "秀芳": 7,
    "淑珍": 6,
    "丽华": 6,
    "春梅": 6,
    "红梅": 6,
    "玉华": 6,
    "金凤": 6,
    "欣怡": 6,
    "梓涵": 6,
    "子涵": 6,
    "诗涵": 5,
    "雨涵": 5,
    "晓燕": 6,
    "丽丽": 5,
    "美玲": 4,
}


@dataclass(frozen=True, slots=True)
class _GivenPools:
    first: Weighted[str]
    second: Weighted[str]
    single: Weighted[str]
    whole: Weighted[str]


@cache
def _given_pools(gender: Gender) -> _GivenPools:
    if gender is Gender.MALE:
        return _GivenPools(
            Weighted(_MALE_FIRST),
            Weighted(_MALE_SECOND),
            Weighted(_MALE_SINGLE),
            Weighted.from_mapping({k: float(v) for k, v in _MALE_WHOLE.items()}),
        )
    return _GivenPools(
        Weighted(_FEMALE_FIRST),
        Weighted(_FEMALE_SECOND),
        Weighted(_FEMALE_SINGLE),
        Weighted.from_mapping({k: float(v) for k, v in _FEMALE_WHOLE.items()}),
    )


@cache
def surname_shares() -> dict[str, float]:
    """Each surname's share of the population (0..1), single-character and compound."""
    text = resources.files("canaries").joinpath("data/surnames.tsv").read_text("utf-8")
    percents: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            surname, percent = line.split("\t")
            percents[surname] = float(percent)
    percents.update(COMPOUND_SURNAMES)
    total = sum(percents.values())
    return {surname: percent / total for surname, percent in percents.items()}


@cache
def _surnames() -> Weighted[str]:
    return Weighted.from_mapping(surname_shares())


@cache
def _single_surnames() -> Weighted[str]:
    return Weighted((s, w) for s, w in surname_shares().items() if len(s) == 1)


def _given_name(rng: random.Random, gender: Gender, length: int) -> str:
    pools = _given_pools(gender)
    if length == 1:
        return pools.single.draw(rng)
    roll = rng.random()
    if roll < WHOLE_GIVEN_SHARE:
        return pools.whole.draw(rng)
    if gender is Gender.FEMALE and roll < WHOLE_GIVEN_SHARE + REDUPLICATED_SHARE:
        return rng.choice(_REDUPLICABLE) * 2
    first = pools.first.draw(rng)
    second = pools.second.draw(rng)
    while second == first:
        second = pools.second.draw(rng)
    return first + second


def mint_name(rng: random.Random, gender: Gender | None = None) -> PersonName:
    """A full name with real length, surname and given-name character statistics."""
    if gender is None:
        gender = Gender.MALE if rng.random() < 0.5 else Gender.FEMALE
    surname = _surnames().draw(rng)
    roll = rng.random()
    if len(surname) == 1 and roll < DOUBLE_BARRELLED_SHARE:
        second = _single_surnames().draw(rng)
        if second != surname:
            surname += second
        return PersonName(surname, _given_name(rng, gender, 2), gender)
    length = 1 if roll > 1 - SINGLE_GIVEN_SHARE else 2
    return PersonName(surname, _given_name(rng, gender, length), gender)


_NOISE = re.compile(r"[\s\u3000·•・.]")


def normalise_name(text: str) -> str:
    """Drop spaces (ASCII and full-width) and middle dots that leaked lists insert."""
    return _NOISE.sub("", text)


def split_name(full: str) -> tuple[str, str]:
    """Split a full name into surname and given name, knowing the compound surnames."""
    name = normalise_name(full)
    if name[:2] in COMPOUND_SURNAMES and len(name) > 2:
        return name[:2], name[2:]
    return name[:1], name[1:]


MASK = "*"
_NAME_MASKS = re.compile(r"[*＊×●•○?？]")
_CJK_NAME = re.compile(r"[\u4e00-\u9fff*]{1,6}")


class NameAgreement(StrEnum):
    """How an observed name agrees with a canary's, strongest first."""

    EXACT = "exact"
    HOMOPHONE = "homophone"  # same pinyin, other characters: a name heard on a call
    MASKED = "masked"  # hidden middle, two or more characters agree: 张*丰
    PARTIAL = "partial"  # one character visible and agreeing: 张**, 张*
    DISAGREE = "disagree"


def name_pattern(text: str) -> str | None:
    """A leaked name as characters and `*` for each hidden one, or None if it is no name."""
    pattern = _NAME_MASKS.sub(MASK, normalise_name(text))
    if not _CJK_NAME.fullmatch(pattern) or pattern.count(MASK) == len(pattern):
        return None
    return pattern


def masked_name_key(pattern: str) -> str | None:
    """First and last character around a hidden middle (`张*丰`), the form most lists use.

    Lists disagree on how many stars stand for the middle, so runs of stars collapse to one.
    """
    if len(pattern) < 3 or MASK in (pattern[0], pattern[-1]):
        return None
    return pattern[0] + MASK + pattern[-1]


def compare_names(observed: str, canary: str) -> NameAgreement:
    """Agreement of an observed name pattern (see `name_pattern`) with a canary's name."""
    if observed == canary:
        return NameAgreement.EXACT
    if MASK not in observed:
        if len(observed) == len(canary) and _pinyin(observed) == _pinyin(canary):
            return NameAgreement.HOMOPHONE
        return NameAgreement.DISAGREE
    visible = [(i, c) for i, c in enumerate(observed) if c != MASK]
    # `张*` is how many lists hide any given name, whatever its length.
    loose = len(observed) == 2 and observed[1] == MASK
    if not loose and len(observed) != len(canary):
        key = masked_name_key(observed.replace(MASK * 2, MASK))
        if key is None or key != masked_name_key(canary):
            return NameAgreement.DISAGREE
        return NameAgreement.MASKED
    if any(i >= len(canary) or canary[i] != c for i, c in visible):
        return NameAgreement.DISAGREE
    surname_length = len(split_name(canary)[0])
    if all(i < surname_length for i, _ in visible):
        return NameAgreement.PARTIAL
    return NameAgreement.MASKED


def homophone_in(text: str, name: str) -> str | None:
    """The first run of characters in `text` that sounds like `name` (same pinyin, other
    characters): how a name heard on a call, or typed by ear, is written."""
    if len(name) < 2:
        return None
    target = _pinyin(name)
    first = {c for c in text if _char_pinyin(c) == target[0]} if text else set()
    for at, char in enumerate(text[: len(text) - len(name) + 1]):
        if char in first:
            chunk = text[at : at + len(name)]
            if chunk != name and _pinyin(chunk) == target:
                return chunk
    return None


def _pinyin(text: str) -> tuple[str, ...]:
    return tuple(_char_pinyin(c) for c in text)


@cache
def _char_pinyin(char: str) -> str:
    from pypinyin import lazy_pinyin  # loaded on first use: its tables take ~50 MB

    return lazy_pinyin(char)[0]
