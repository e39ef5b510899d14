"""The departments that own citizen cases, read from the committed ``departments.yml``."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

DEPARTMENTS_FILE = Path(__file__).with_name("departments.yml")


@dataclass(frozen=True)
class Department:
    """One department: a stable id, the short name staff and citizens read, the agency."""

    id: str
    name: str
    agency: str


@functools.lru_cache(maxsize=4)
def load_departments(path: Path = DEPARTMENTS_FILE) -> tuple[Department, ...]:
    """The departments in file order.

    Raises:
        ValueError: an entry lacks an id or a name, or an id is repeated.
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: list[Department] = []
    seen: set[str] = set()
    for entry in raw.get("departments") or []:
        dep_id, name = str(entry.get("id") or "").strip(), str(entry.get("name") or "").strip()
        if not dep_id or not name:
            raise ValueError(f"{path.name}: every department needs an id and a name: {entry!r}")
        if dep_id in seen:
            raise ValueError(f"{path.name}: department id {dep_id!r} appears twice")
        seen.add(dep_id)
        out.append(Department(dep_id, name, str(entry.get("agency") or name)))
    return tuple(out)


def department_names(path: Path = DEPARTMENTS_FILE) -> dict[str, str]:
    """Department id → short name."""
    return {d.id: d.name for d in load_departments(path)}
