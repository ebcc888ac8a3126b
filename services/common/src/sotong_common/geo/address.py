"""Best-effort reading of free address text into a Seoul district and neighbourhood.

Citizens and upstream systems write addresses in many shapes: "서울특별시 마포구 서교동 395-1", "서울시마포구서교동",
"강남구 역삼1동", "Mapo-gu, Seoul", or just "신사동". Intake only needs the district (for routing and statistics)
and the neighbourhood when it is certain, so this is deliberately a small rule set over the gazetteer's names,
not a geocoder: road-name addresses (도로명주소) resolve to their district when it is written, and nothing is ever
guessed across districts. A neighbourhood name that exists in two districts (신사동 is in 강남구 and 은평구) only
resolves together with its district, and text that names another city or province resolves to nothing even if a
district name such as 중구 follows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from sotong_common.geo.places import District, Neighbourhood, Place

_OTHER_REGIONS = (
    "부산|대구|인천|광주|대전|울산|세종|경기|강원|충북|충남|전북|전남|경북|경남|제주|"
    "충청북|충청남|전라북|전라남|경상북|경상남"
)
_OTHER_REGION_TOKEN = re.compile(rf"^(?:{_OTHER_REGIONS})(?:광역시|특별시|특별자치시|특별자치도|도|시)?$")
_OTHER_REGION_FULL = re.compile(rf"^(?:{_OTHER_REGIONS})(?:광역시|특별자치시|특별자치도|도)$")
_OTHER_REGIONS_EN = frozenset(
    [
        "busan",
        "daegu",
        "incheon",
        "gwangju",
        "daejeon",
        "ulsan",
        "sejong",
        "gyeonggi",
        "gyeonggi-do",
        "gangwon",
        "gangwon-do",
        "jeju",
        "jeju-do",
    ]
)
_SEOUL_PREFIX = re.compile(r"서울(?:특별시|시)?")
_SEPARATORS = re.compile(r"[\s,()\[\]{}<>/|;:\"'`~!?·]+")
_LOT_SUFFIX = re.compile(r"^([가-힣0-9]+?(?:동|가|로))(?:[0-9\-]+(?:번지)?)?$")
_ADMIN_DONG = re.compile(r"^([가-힣]+?)제?[0-9.·]+동$")


def _fold_en(name: str) -> str:
    """'Seogyo-dong' / 'seogyo dong' / 'Seogyodong' all compare equal."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


class AddressResolver:
    """Name indexes over the gazetteer, built once; `resolve` is then a few regex scans and dict lookups."""

    def __init__(self, districts: Sequence[District], neighbourhoods: Sequence[Neighbourhood]) -> None:
        self._districts = list(districts)
        self._by_code = {d.code: d for d in districts}
        self._district_ko = re.compile(
            "|".join(sorted((re.escape(d.name_ko) for d in districts), key=len, reverse=True))
        )
        self._district_short = {d.name_ko[:-1]: d for d in districts if len(d.name_ko) >= 3}
        self._district_en = {_fold_en(d.name_en): d for d in districts}
        self._district_en_short = {_fold_en(d.name_en.removesuffix("-gu")): d for d in districts}
        self._hoods_ko: dict[str, list[Neighbourhood]] = {}
        self._hoods_en: dict[str, list[Neighbourhood]] = {}
        for hood in neighbourhoods:
            self._hoods_ko.setdefault(hood.name_ko, []).append(hood)
            self._hoods_en.setdefault(_fold_en(hood.name_en), []).append(hood)

    def resolve(self, text: str) -> Place | None:
        text = unicodedata.normalize("NFKC", text).strip()
        if not text:
            return None
        tokens = [t for t in _SEPARATORS.split(text) if t]
        if self._names_other_region(tokens):
            return None
        district = self._find_district(text, tokens)
        hoods = self._find_neighbourhoods(text, tokens)
        if district is not None:
            own = [h for h in hoods if h.district_code == district.code]
            return Place(district, own[0] if len({h.code for h in own}) == 1 else None)
        if len({h.code for h in hoods}) == 1:
            hood = hoods[0]
            return Place(self._by_code[hood.district_code], hood)
        return None  # nothing known, or a neighbourhood name shared by several districts

    @staticmethod
    def _names_other_region(tokens: list[str]) -> bool:
        if not tokens:
            return False
        if _OTHER_REGION_TOKEN.match(tokens[0]):
            return True
        return any(_OTHER_REGION_FULL.match(t) or t.lower() in _OTHER_REGIONS_EN for t in tokens)

    def _find_district(self, text: str, tokens: list[str]) -> District | None:
        """First district written in the text; Korean full names first, then English, then bare short names."""
        for match in self._district_ko.finditer(text):
            before = text[: match.start()]
            # "서울마포구" and "서울시 마포구" are fine; "강중구"-style words that merely end in a name are not.
            if not before or not re.search(r"[가-힣]$", before) or _SEOUL_PREFIX.search(before[-5:]):
                return self._by_name_ko(match.group(0))
        words = [_fold_en(t) for t in re.split(r"[\s,]+", text) if t]
        for i, word in enumerate(words):
            if word in self._district_en:
                return self._district_en[word]
            if word in self._district_en_short and i + 1 < len(words) and words[i + 1] == "gu":
                return self._district_en_short[word]
        for token in tokens:
            if token in self._district_short:
                return self._district_short[token]
        return None

    def _by_name_ko(self, name: str) -> District:
        return next(d for d in self._districts if d.name_ko == name)

    def _find_neighbourhoods(self, text: str, tokens: list[str]) -> list[Neighbourhood]:
        found: list[Neighbourhood] = []
        # Split glued forms such as "서울시마포구서교동" at the district name so the neighbourhood becomes a token.
        spaced = self._district_ko.sub(lambda m: f" {m.group(0)} ", _SEOUL_PREFIX.sub(" ", text))
        for token in {*tokens, *(t for t in _SEPARATORS.split(spaced) if t)}:
            for name in _neighbourhood_spellings(token):
                found.extend(self._hoods_ko.get(name, []))
        words = [w for w in re.split(r"[\s,]+", text) if w]
        for i, word in enumerate(words):
            folded = _fold_en(word)
            if folded.endswith("dong") and len(folded) > 4:
                found.extend(self._hoods_en.get(folded, []))
            elif i + 1 < len(words) and _fold_en(words[i + 1]) == "dong":
                found.extend(self._hoods_en.get(folded + "dong", []))
        unique: dict[str, Neighbourhood] = {h.code: h for h in found}
        return sorted(unique.values(), key=lambda h: h.code)


def _neighbourhood_spellings(token: str) -> list[str]:
    """Legal-neighbourhood names a token may stand for: itself, without a lot number, 역삼1동 -> 역삼동."""
    names = [token]
    lot = _LOT_SUFFIX.match(token)
    if lot:
        names.append(lot.group(1))
    for name in list(names):
        admin = _ADMIN_DONG.match(name)
        if admin:
            names.append(admin.group(1) + "동")
    return names
