"""The work-order catalogue: services, departments, routing and answer deadlines.

Staff edit ``catalogue.yml`` (the packaged file is SAMPLE data for a
fictional 示范区); :func:`load_catalogue` validates all of it on load and
names the entry at fault, so a typo stops the service at start-up instead of
misrouting tickets later.

Routing follows the rule "whoever is in charge handles it" (domain.md §1):
a category's rule names the responsible department, optionally overridden
per street; when no rule fits, the street office where it happened takes
it (属地兜底), and when even that is unknown, the default department (the
dispatch centre) does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.types import REQUEST_TYPES

__all__ = [
    "DEFAULT_CATALOGUE",
    "DEFAULT_CATEGORY",
    "DEPARTMENT_KINDS",
    "Catalogue",
    "CatalogueError",
    "Department",
    "RoutingRule",
    "Service",
    "load_catalogue",
]

DEFAULT_CATALOGUE = Path(__file__).with_name("catalogue.yml")
# The bot's category when nothing more specific fits; its service is the fallback.
DEFAULT_CATEGORY = "其他"
# Kinds of department, with the name staff know them by.
DEPARTMENT_KINDS: dict[str, str] = {
    "bureau": "区直部门",
    "street": "街道办事处",
    "centre": "派单中心",
}

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_NAME_CHARS = 64


class CatalogueError(ValueError):
    """The catalogue file is missing, not YAML, or has an invalid entry."""


@dataclass(frozen=True, slots=True)
class Service:
    """One Open311 service: a first-level class of the taxonomy (or 其他)."""

    service_code: str
    service_name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Department:
    """A department that handles tickets: a district bureau, a street office
    (街道办事处, with the street it covers and the communities in it) or the
    dispatch centre."""

    code: str
    name: str
    district: str | None
    street: str | None
    kind: str = "bureau"
    areas: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """Who handles one category: ``department``, unless ``streets`` names
    another department for the street where it happened."""

    category: str
    department: str | None
    streets: Mapping[str, str] = field(default_factory=dict)


class Catalogue:
    """The validated catalogue (build it with :func:`load_catalogue`)."""

    def __init__(
        self,
        *,
        jurisdiction: str,
        district: str,
        services: list[Service],
        departments: dict[str, Department],
        rules: dict[str, RoutingRule],
        default_department: str,
        urgent_due: timedelta,
        due_by_type: dict[str, timedelta],
    ) -> None:
        self.jurisdiction = jurisdiction
        self.district = district
        self.services = list(services)
        self.departments = dict(departments)
        self.rules = dict(rules)
        self.default_department = self.departments[default_department]
        self.urgent_due = urgent_due
        self.due_by_type = dict(due_by_type)
        self._by_code = {s.service_code: s for s in self.services}
        self._by_name = {s.service_name: s for s in self.services}
        self._offices = [d for d in self.departments.values() if d.kind == "street"]

    @property
    def default_service(self) -> Service:
        """The service for categories that have none of their own (其他)."""
        return self._by_name[DEFAULT_CATEGORY]

    def service(self, code: str) -> Service | None:
        return self._by_code.get(code)

    def service_for_category(self, name: str | None) -> Service:
        """The service named like the bot's category, else the 其他 service."""
        if name is not None:
            found = self._by_name.get(name.strip())
            if found is not None:
                return found
        return self.default_service

    def department(self, code: str | None) -> Department | None:
        return self.departments.get(code) if code else None

    def street_office(self, district: str | None, street: str | None) -> Department | None:
        """The street office of ``street`` (in ``district``, when given)."""
        street, district = _street_name(street), _clean(district)
        if street is None:
            return None
        for office in self._offices:
            if office.street == street and (district is None or office.district == district):
                return office
        return None

    def street_in(self, text: str | None) -> str | None:
        """The street whose name, or one of whose communities, ``text`` mentions."""
        if not text:
            return None
        candidates = [
            (name, office.street)
            for office in self._offices
            for name in (office.street, *office.areas)
            if name
        ]
        # The longest name first: "望湖苑社区" before "望湖苑".
        for name, street in sorted(candidates, key=lambda pair: -len(pair[0])):
            if name in text:
                return street
        return None

    def route(self, category: str, district: str | None, street: str | None) -> Department:
        """The department that should handle ``category`` at that place."""
        district, street = _clean(district), _street_name(street)
        rule = self.rules.get(category.strip())
        if rule is not None:
            override = rule.streets.get(street) if street else None
            for code in (override, rule.department):
                department = self.department(code)
                if department is not None and _serves(department, district):
                    return department
        office = self.street_office(district, street)
        if office is not None:
            return office
        return self.default_department

    def due_in(self, request_type: str, urgent: bool) -> timedelta:
        """How long the department has to answer (domain.md §1: 2 h / 24 h / 7 d / 15 d)."""
        if request_type not in self.due_by_type:
            raise ValueError(f"unknown request type {request_type!r}")
        return self.urgent_due if urgent else self.due_by_type[request_type]


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _street_name(value: str | None) -> str | None:
    """A street as the catalogue names it: "东湖街道办事处" → "东湖街道"."""
    value = _clean(value)
    if value is not None and value.endswith("办事处") and len(value) > 3:
        value = value[: -len("办事处")]
    return value


def _serves(department: Department, district: str | None) -> bool:
    return district is None or department.district is None or department.district == district


# -- loading and validation -----------------------------------------------------------


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate the catalogue at ``path`` (default: the packaged sample)."""
    source = path or DEFAULT_CATALOGUE
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"无法读取服务目录 {source}：{exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"服务目录 {source} 不是有效的 YAML：{exc}") from exc
    return _Parser(str(source)).catalogue(data)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> CatalogueError:
        return CatalogueError(f"服务目录 {self.source} 有误：{where}：{problem}")

    # -- primitives

    def mapping(self, value: Any, where: str, *, keys: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "应为键值对（映射）")
        unknown = sorted(str(k) for k in value if k not in keys)
        if unknown:
            known = ", ".join(sorted(keys))
            raise self.fail(where, f"不认识的字段 {', '.join(unknown)}（可用：{known}）")
        return value

    def text(self, value: Any, where: str, *, required: bool = True, limit: int = 500) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(where, "应为非空文字")
        text: str = value.strip()
        if len(text) > limit:
            raise self.fail(where, f"不能超过 {limit} 个字")
        return text

    def code(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _CODE.match(value):
            raise self.fail(where, "代码只能用小写英文字母、数字和下划线，以字母开头，最长 32 位")
        return value

    def words(self, value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(where, "应为列表")
        return tuple(
            self.text(item, f"{where}[{i}]", limit=_NAME_CHARS) for i, item in enumerate(value)
        )

    def duration(self, value: Any, where: str) -> timedelta:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None or int(match.group(1)) <= 0:
            raise self.fail(where, "时长应写作正数加单位，如 30m、2h、7d")
        return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})

    # -- sections

    def catalogue(self, data: Any) -> Catalogue:
        top = self.mapping(
            data, "文件",
            keys={"jurisdiction", "district", "services", "departments", "routing", "due"},
        )
        district = self.text(top.get("district"), "district", limit=_NAME_CHARS)
        jurisdiction = (
            self.text(top.get("jurisdiction"), "jurisdiction", required=False) or district
        )
        services = self.services(top.get("services"))
        departments = self.departments(top.get("departments"), district)
        rules, default = self.routing(top.get("routing"), services, departments)
        urgent, by_type = self.due(top.get("due"))
        return Catalogue(
            jurisdiction=jurisdiction,
            district=district,
            services=services,
            departments=departments,
            rules=rules,
            default_department=default,
            urgent_due=urgent,
            due_by_type=by_type,
        )

    def services(self, value: Any) -> list[Service]:
        if not isinstance(value, list) or not value:
            raise self.fail("services", "应为非空列表")
        services: list[Service] = []
        codes: set[str] = set()
        names: set[str] = set()
        for i, item in enumerate(value):
            where = f"services[{i}]"
            entry = self.mapping(
                item, where,
                keys={"service_code", "service_name", "description", "keywords", "group"},
            )
            code = self.code(entry.get("service_code"), f"{where}.service_code")
            name = self.text(entry.get("service_name"), f"{where}.service_name", limit=_NAME_CHARS)
            if code in codes:
                raise self.fail(f"{where}.service_code", f"代码 {code} 重复")
            if name in names:
                raise self.fail(f"{where}.service_name", f"名称 {name} 重复")
            codes.add(code)
            names.add(name)
            group = self.text(entry.get("group"), f"{where}.group", required=False, limit=64)
            services.append(Service(
                service_code=code,
                service_name=name,
                description=self.text(
                    entry.get("description"), f"{where}.description", required=False
                ),
                keywords=self.words(entry.get("keywords"), f"{where}.keywords"),
                group=group or None,
            ))
        if DEFAULT_CATEGORY not in names:
            raise self.fail("services", f"必须有名为“{DEFAULT_CATEGORY}”的服务，作为兜底分类")
        return services

    def departments(self, value: Any, district: str) -> dict[str, Department]:
        if not isinstance(value, list) or not value:
            raise self.fail("departments", "应为非空列表")
        departments: dict[str, Department] = {}
        streets: set[tuple[str | None, str]] = set()
        for i, item in enumerate(value):
            where = f"departments[{i}]"
            entry = self.mapping(
                item, where, keys={"code", "name", "kind", "district", "street", "areas"}
            )
            code = self.code(entry.get("code"), f"{where}.code")
            if code in departments:
                raise self.fail(f"{where}.code", f"部门代码 {code} 重复")
            kind = entry.get("kind", "bureau")
            if kind not in DEPARTMENT_KINDS:
                raise self.fail(f"{where}.kind", f"应为 {'、'.join(DEPARTMENT_KINDS)} 之一")
            own_district = (
                self.text(entry.get("district"), f"{where}.district", limit=_NAME_CHARS)
                if entry.get("district") is not None
                else district
            )
            street: str | None = None
            areas: tuple[str, ...] = ()
            if kind == "street":
                street = _street_name(
                    self.text(entry.get("street"), f"{where}.street", limit=_NAME_CHARS)
                )
                assert street is not None
                if (own_district, street) in streets:
                    raise self.fail(f"{where}.street", f"{street} 已有街道办事处")
                streets.add((own_district, street))
                areas = self.words(entry.get("areas"), f"{where}.areas")
            elif entry.get("street") is not None or entry.get("areas") is not None:
                raise self.fail(where, "只有街道办事处（kind: street）才有 street 和 areas")
            departments[code] = Department(
                code=code,
                name=self.text(entry.get("name"), f"{where}.name", limit=128),
                district=own_district,
                street=street,
                kind=kind,
                areas=areas,
            )
        return departments

    def routing(
        self, value: Any, services: list[Service], departments: dict[str, Department]
    ) -> tuple[dict[str, RoutingRule], str]:
        section = self.mapping(value, "routing", keys={"default_department", "rules"})
        default = self.known(section.get("default_department"), "routing.default_department",
                             departments)
        categories = {s.service_name for s in services}
        streets = {d.street for d in departments.values() if d.street}
        raw_rules = section.get("rules") or {}
        if not isinstance(raw_rules, dict):
            raise self.fail("routing.rules", "应为“分类: 规则”的映射")
        rules: dict[str, RoutingRule] = {}
        for category, raw in raw_rules.items():
            where = f"routing.rules.{category}"
            if category not in categories:
                raise self.fail(where, f"没有名为 {category} 的服务")
            rule = self.mapping(raw, where, keys={"department", "streets"})
            department = (
                self.known(rule["department"], f"{where}.department", departments)
                if rule.get("department") is not None
                else None
            )
            overrides = rule.get("streets") or {}
            if not isinstance(overrides, dict):
                raise self.fail(f"{where}.streets", "应为“街道: 部门代码”的映射")
            by_street: dict[str, str] = {}
            for street, code in overrides.items():
                name = _street_name(str(street))
                if name not in streets:
                    raise self.fail(f"{where}.streets.{street}", "没有这个街道的街道办事处")
                assert name is not None
                by_street[name] = self.known(code, f"{where}.streets.{street}", departments)
            if department is None and not by_street:
                raise self.fail(where, "规则至少要有 department 或 streets")
            rules[category] = RoutingRule(category, department, by_street)
        return rules, default

    def known(self, value: Any, where: str, departments: dict[str, Department]) -> str:
        code = self.code(value, where)
        if code not in departments:
            raise self.fail(where, f"没有代码为 {code} 的部门")
        return code

    def due(self, value: Any) -> tuple[timedelta, dict[str, timedelta]]:
        section = self.mapping(value, "due", keys={"urgent", "request_types"})
        urgent = self.duration(section.get("urgent"), "due.urgent")
        raw = self.mapping(
            section.get("request_types"), "due.request_types", keys=set(REQUEST_TYPES)
        )
        missing = [t for t in REQUEST_TYPES if t not in raw]
        if missing:
            raise self.fail("due.request_types", f"缺少 {', '.join(missing)} 的时限")
        by_type = {t: self.duration(raw[t], f"due.request_types.{t}") for t in REQUEST_TYPES}
        return urgent, by_type
