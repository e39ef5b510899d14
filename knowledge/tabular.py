"""CSV and XLSX import/export of services and FAQs (the YAML format lives in ``transfer``).

One table per kind, recognised by its header row: a ``question`` column makes an FAQ
table, ``name`` + ``category`` a service table. List cells hold one item per line;
service forms are ``name | url`` lines. Rows become :class:`knowledge.transfer.Record`
objects with ``file:line`` (CSV) or ``file[sheet]:row`` (XLSX) sources, so the strict
all-or-nothing import names every bad row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from typing import Any

from knowledge.channel_forms import FORM_KEYS, GUIDE_SECTIONS
from knowledge.models import Faq, Service
from knowledge.repository import snapshot
from knowledge.transfer import ImportFailed, Record

FAQ_COLUMNS = ("id", "service_id", "topic", "question", "alternatives", "answer", "sms_text", "spoken_text",
               "status", "owner_department", "effective_from", "expires_on")
# The short forms of each guide section are flat columns ``sms_<section>`` / ``spoken_<section>``.
FORM_COLUMNS = tuple(f"{key}_{section}" for section in GUIDE_SECTIONS for key in FORM_KEYS)
SERVICE_COLUMNS = ("id", "name", "category", "audience", "department", "summary", "keywords", "eligibility",
                   "materials", "steps", "locations", "time_limit", "fees", "online_url", "online_only",
                   "online_route", "forms", "legal_basis", *FORM_COLUMNS)
LIST_COLUMNS = frozenset({"alternatives", "keywords", "materials", "steps", "legal_basis"})
MAX_ROWS = 50_000


def _kind(header: list[str], where: str) -> str:
    cols = set(header)
    if "question" in cols and "answer" in cols:
        return "faq"
    if {"id", "name", "category"} <= cols:
        return "service"
    raise ImportFailed([f"{where}: 无法识别表头（常见问题表需有 question、answer 列；"
                        "服务表需有 id、name、category 列）"])


def _cell_lines(value: Any) -> list[str]:
    return [ln.strip() for ln in str(value).splitlines() if ln.strip()]


def _record(kind: str, header: list[str], values: list[Any], source: str) -> Record | None:
    data: dict[str, Any] = {}
    for col, value in zip(header, values, strict=False):
        if not col or value is None or (isinstance(value, str) and not value.strip()):
            continue
        if col in FORM_COLUMNS:
            key, _, section = col.partition("_")
            data.setdefault("channel_forms", {}).setdefault(section, {})[key] = str(value).strip()
        elif col in LIST_COLUMNS:
            data[col] = _cell_lines(value)
        elif col == "forms":
            data[col] = [{"name": n.strip(), "url": u.strip()}
                         for n, _, u in (ln.partition("|") for ln in _cell_lines(value))]
        elif isinstance(value, dt.datetime):
            data[col] = value.date()
        elif isinstance(value, float) and value.is_integer():
            data[col] = str(int(value))
        elif isinstance(value, dt.date):
            data[col] = value
        else:
            text = str(value).strip()
            # undo the formula guard of our own exports ('=..., '-...)
            data[col] = text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@") else text
    if not data:
        return None  # blank row
    return Record(kind, data, source)


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # spreadsheet software often saves Chinese CSV as GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFailed([f"{name}: 文件编码无法识别（请另存为 UTF-8 CSV）"])


def read_csv(data: bytes, name: str) -> list[Record]:
    """Records of one CSV table (header in the first line)."""
    reader = csv.reader(io.StringIO(_decode(data, name), newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportFailed([f"{name}: 文件是空的"]) from None
    except csv.Error as exc:
        raise ImportFailed([f"{name}:1: CSV 格式错误：{exc}"]) from None
    kind = _kind(header, f"{name}:1")
    records: list[Record] = []
    start = reader.line_num + 1
    try:
        for values in reader:
            rec = _record(kind, header, values, f"{name}:{start}")
            if rec is not None:
                records.append(rec)
            start = reader.line_num + 1
            if len(records) > MAX_ROWS:
                raise ImportFailed([f"{name}: 超过 {MAX_ROWS} 行，请拆分文件"])
    except csv.Error as exc:
        raise ImportFailed([f"{name}:{start}: CSV 格式错误：{exc}"]) from None
    return records


def read_xlsx(data: bytes, name: str) -> list[Record]:
    """Records of every sheet of a workbook (each sheet one table with its header row)."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or foreign file
        raise ImportFailed([f"{name}: 不是有效的 XLSX 文件（{type(exc).__name__}）"]) from None
    records: list[Record] = []
    errors: list[str] = []
    try:
        for ws in wb.worksheets:
            rows = ws.iter_rows(values_only=True)
            first = next(rows, None)
            if first is None or not any(first):
                continue
            header = [str(h or "").strip().lower() for h in first]
            try:
                kind = _kind(header, f"{name}[{ws.title}]:1")
            except ImportFailed as exc:
                errors.extend(exc.errors)
                continue
            for n, values in enumerate(rows, start=2):
                rec = _record(kind, header, list(values), f"{name}[{ws.title}]:{n}")
                if rec is not None:
                    records.append(rec)
                if len(records) > MAX_ROWS:
                    raise ImportFailed([f"{name}: 超过 {MAX_ROWS} 行，请拆分文件"])
    finally:
        wb.close()
    if errors:
        raise ImportFailed(errors)
    return records


def read_upload(data: bytes, name: str) -> list[Record]:
    """Records of an uploaded CSV, XLSX or YAML file, chosen by its extension."""
    lower = name.lower()
    if lower.endswith(".csv"):
        return read_csv(data, name)
    if lower.endswith(".xlsx"):
        return read_xlsx(data, name)
    if lower.endswith((".yml", ".yaml")):
        import tempfile
        from pathlib import Path

        from knowledge.transfer import read_yaml

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(name).name
            path.write_bytes(data)
            return read_yaml(path)
    raise ImportFailed([f"{name}: 仅支持 .csv、.xlsx、.yml 文件"])


def _cells(row: dict[str, Any], columns: Iterable[str]) -> list[Any]:
    out = []
    for col in columns:
        value = row.get(col)
        if col == "forms":
            value = "\n".join(f"{f.get('name', '')} | {f.get('url', '')}" for f in value or [])
        elif col in LIST_COLUMNS:
            value = "\n".join(value or [])
        out.append("" if value is None else value)
    return out


def faq_rows(faqs: Iterable[Faq]) -> Iterator[list[Any]]:
    """Cells of each FAQ in :data:`FAQ_COLUMNS` order."""
    for f in faqs:
        yield _cells(snapshot(f), FAQ_COLUMNS)


def service_rows(services: Iterable[Service]) -> Iterator[list[Any]]:
    """Cells of each service in :data:`SERVICE_COLUMNS` order."""
    for s in services:
        row = snapshot(s)
        for section, forms in (row.get("channel_forms") or {}).items():
            for key, text in forms.items():
                row[f"{key}_{section}"] = text
        yield _cells(row, SERVICE_COLUMNS)


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Keep spreadsheet software from running cell text as a formula (CSV/XLSX injection).

    Text starting with ``= + - @``, a tab or a carriage return gets a leading apostrophe.
    """
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
        return "'" + value
    return value


_safe = spreadsheet_safe


def write_csv(columns: tuple[str, ...], rows: Iterable[list[Any]]) -> bytes:
    """A UTF-8 CSV (with BOM, so spreadsheet software shows Chinese) of one table."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_safe(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def write_xlsx(tables: dict[str, tuple[tuple[str, ...], Iterable[list[Any]]]]) -> bytes:
    """A workbook with one sheet per table (``{"services": (columns, rows), ...}``)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for title, (columns, rows) in tables.items():
        ws = wb.create_sheet(title)
        ws.append(list(columns))
        for row in rows:
            ws.append([_safe(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
