"""The committed department list: readable, unique ids, the ten departments the brief names."""

from __future__ import annotations

from pathlib import Path

import pytest

from casework.departments import department_names, load_departments

REQUIRED = {"城乡建设", "环境保护", "交通运输", "教育文体", "劳动和社会保障", "卫生健康", "商贸旅游", "公安",
            "市场监管", "民政"}


def test_committed_list_names_the_required_departments() -> None:
    names = set(department_names().values())
    assert names >= REQUIRED
    assert len({d.id for d in load_departments()}) == len(load_departments())


def test_repeated_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.yml"
    path.write_text("departments:\n  - {id: a, name: 甲}\n  - {id: a, name: 乙}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="twice"):
        load_departments(path)


def test_entry_without_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.yml"
    path.write_text("departments:\n  - {id: a}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="id and a name"):
        load_departments(path)
