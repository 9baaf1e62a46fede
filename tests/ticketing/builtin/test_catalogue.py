"""The catalogue: the packaged sample covers the bot's categories, routes
like the rules say, gives the domain's deadlines, and refuses broken files
with a message that points at the entry."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.types import REQUEST_TYPES
from integrations.ticketing.builtin.catalogue import (
    DEFAULT_CATALOGUE,
    Catalogue,
    CatalogueError,
    load_catalogue,
)

TAXONOMY = Path(__file__).resolve().parents[3] / "nlu" / "taxonomy"


def _first_level_classes() -> set[str]:
    with (TAXONOMY / "government_message_taxonomy.csv").open(encoding="utf-8") as f:
        return {row["level1"] for row in csv.DictReader(f)}


def test_one_service_per_taxonomy_class_plus_other(catalogue: Catalogue) -> None:
    names = [s.service_name for s in catalogue.services]
    assert len(names) == len(set(names))
    assert set(names) == _first_level_classes() | {"其他"}
    assert len(names) == 16
    for service in catalogue.services:
        assert service.service_code.isascii() and service.service_code.islower()
        assert service.description and service.group
    assert catalogue.service_for_category("其他").service_code == "other"
    assert catalogue.service("urban_construction") is not None
    assert catalogue.service("urban_construction").service_name == "城乡建设"  # type: ignore[union-attr]
    assert catalogue.service("nope") is None


def test_the_bot_category_maps_to_its_service_by_name(catalogue: Catalogue) -> None:
    assert catalogue.service_for_category("环境保护").service_code == "environment"
    assert catalogue.service_for_category("劳动和社会保障").service_code == (
        "labour_social_security"
    )
    assert catalogue.service_for_category("火星事务").service_code == "other"
    assert catalogue.service_for_category(None).service_code == "other"


def test_the_sample_district_is_marked_as_sample_data(catalogue: Catalogue) -> None:
    assert "示例" in catalogue.jurisdiction
    assert "示例数据" in DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    offices = [d for d in catalogue.departments.values() if d.kind == "street"]
    assert sorted(d.street or "" for d in offices) == ["东湖街道", "南桥街道", "西山街道"]
    assert all(d.name.endswith("街道办事处") and d.district == "示范区" for d in offices)


def test_routing_by_category_with_street_overrides(catalogue: Catalogue) -> None:
    assert catalogue.route("环境保护", "示范区", "东湖街道").code == "ecology_environment"
    assert catalogue.route("环境保护", None, None).code == "ecology_environment"
    # 城乡建设 goes to the bureau, except in 南桥街道 where the street office takes it.
    assert catalogue.route("城乡建设", "示范区", "西山街道").code == "housing_construction"
    assert catalogue.route("城乡建设", "示范区", "南桥街道").code == "street_nanqiao"
    assert catalogue.route("城乡建设", None, "南桥街道办事处").code == "street_nanqiao"
    assert catalogue.route("民政", None, "西山街道").code == "street_xishan"
    assert catalogue.route("民政", None, None).code == "civil_affairs"


def test_no_rule_falls_to_the_street_office_then_the_dispatch_centre(
    catalogue: Catalogue,
) -> None:
    # 属地兜底: whoever governs the place takes what nobody else is in charge of.
    assert catalogue.route("其他", "示范区", "东湖街道").code == "street_donghu"
    assert catalogue.route("其他", None, "西山街道").code == "street_xishan"
    assert catalogue.route("其他", None, None).code == "dispatch_centre"
    assert catalogue.route("未知分类", None, None).code == "dispatch_centre"
    # Somewhere outside the district: no bureau of ours is in charge there.
    assert catalogue.route("城乡建设", "别的区", None).code == "dispatch_centre"


def test_a_street_is_recognised_from_its_communities_in_an_address(
    catalogue: Catalogue,
) -> None:
    assert catalogue.street_in("示范区望湖苑社区3号楼") == "东湖街道"
    assert catalogue.street_in("枫林小区北门") == "西山街道"
    assert catalogue.street_in("南桥街道老城区") == "南桥街道"
    assert catalogue.street_in("和平路12号") is None
    assert catalogue.street_in(None) is None


def test_due_times_follow_the_service_standard(catalogue: Catalogue) -> None:
    # domain.md §1: 2 hours, 24 hours, 7 days and 15 days by urgency and type.
    assert catalogue.due_in("consult", False) == timedelta(hours=24)
    for request_type in ("seek_help", "complain", "report", "praise"):
        assert catalogue.due_in(request_type, False) == timedelta(days=7)
    assert catalogue.due_in("suggest", False) == timedelta(days=15)
    for request_type in REQUEST_TYPES:
        assert catalogue.due_in(request_type, True) == timedelta(hours=2)
    with pytest.raises(ValueError):
        catalogue.due_in("gossip", False)


def test_departments_are_listed_by_code(catalogue: Catalogue) -> None:
    department = catalogue.departments["street_donghu"]
    assert (department.code, department.name, department.district, department.street) == (
        "street_donghu", "示范区东湖街道办事处", "示范区", "东湖街道"
    )
    assert catalogue.departments["dispatch_centre"].kind == "centre"
    assert catalogue.default_department.code == "dispatch_centre"


# -- broken files ----------------------------------------------------------------------


def _sample() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    return data


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_an_edited_copy_loads_from_its_path(tmp_path: Path) -> None:
    data = _sample()
    data["due"]["request_types"]["consult"] = "12h"
    loaded = load_catalogue(_write(tmp_path, data))
    assert loaded.due_in("consult", False) == timedelta(hours=12)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["routing"]["rules"]["环境保护"].update(department="no_such_dept"),
         "routing.rules.环境保护.department"),
        (lambda d: d["services"][1].update(service_code="urban_construction"),
         "services[1].service_code"),
        (lambda d: d["services"][0].update(service_code="城建"), "services[0].service_code"),
        (lambda d: d["services"].pop(), "其他"),
        (lambda d: d["due"]["request_types"].pop("suggest"), "suggest"),
        (lambda d: d["due"].update(urgent="two hours"), "due.urgent"),
        (lambda d: d["departments"][0].update(kind="ministry"), "departments[0].kind"),
        (lambda d: d["departments"][0].update(nmae="typo"), "nmae"),
        (lambda d: d["routing"]["rules"]["城乡建设"]["streets"].update({"北山街道": "transport"}),
         "北山街道"),
        (lambda d: d["routing"]["rules"].update({"外星": {"department": "transport"}}),
         "routing.rules.外星"),
    ],
)
def test_a_broken_catalogue_is_refused_naming_the_entry(
    tmp_path: Path, change: Any, expected: str
) -> None:
    data = _sample()
    change(data)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(_write(tmp_path, data))
    assert expected in str(caught.value)
    assert "有误" in str(caught.value)


def test_a_file_that_is_not_yaml_or_missing_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("services: [\n  - {service_code: x", encoding="utf-8")
    with pytest.raises(CatalogueError, match="YAML"):
        load_catalogue(broken)
    with pytest.raises(CatalogueError, match="无法读取"):
        load_catalogue(tmp_path / "missing.yml")
