"""Batch issuance from CSV: one license per row, a result per row, idempotent by external id.

CSV: a header row; the column ``external_id`` (required, unique in the file) identifies
the row in the caller's system; every other column is a field of the license type (empty
cells are absent values). Each row is issued through ``service.issue_license``:

* a row whose (type, external id) is already in the directory is *not* issued again; its
  result is ``already issued`` with the existing license id (so running the same file
  twice issues nothing twice, and an interrupted run can simply be started again);
* a row that fails (field validation, conflict, a refused seal use, a TSA refusal) gets
  its error message, and the other rows go on;
* issued OFD files are written to ``OUT/<license id>.ofd``; the results to
  ``OUT/results.csv`` with columns row, external_id, status (issued | already issued |
  error), license_id, error.

``row`` counts data rows from 1 (the header is not counted), the way spreadsheets users
point at "the 3rd applicant".
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gm.records import frozen_record
from seal.errors import SealError
from seal.license import service
from seal.license.errors import LicenseError, SealingUnavailable
from seal.license.types import LicenseType, get_type

__all__ = ["RowResult", "read_rows", "issue_batch", "write_results", "RESULTS_FILE", "EXTERNAL_ID_COLUMN"]

RESULTS_FILE = "results.csv"
EXTERNAL_ID_COLUMN = "external_id"
RESULT_COLUMNS = ("row", "external_id", "status", "license_id", "error")


def _row_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [LicenseError, SealError]
    try:
        from seal.tsa import TsaError
    except ImportError:  # pragma: no cover - seal/tsa is part of the project
        return tuple(errors)
    return (*errors, TsaError)


_ROW_ERRORS = _row_errors()


@frozen_record
class RowResult:
    row: int
    external_id: str
    status: str  # issued | already issued | error
    license_id: str = ""
    error: str = ""


def read_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(row number, cells) for each data row; LicenseError for a file that is not a usable CSV."""
    if text.startswith("\ufeff"):
        text = text[1:]  # Excel writes a BOM in front of UTF-8 CSV
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _rows(reader)
    except csv.Error as exc:    # e.g. a cell over the csv module's field limit
        raise LicenseError(f"the CSV file cannot be read (line {reader.line_num}: {exc})") from None


def _rows(reader: csv.DictReader) -> list[tuple[int, dict[str, str]]]:
    if not reader.fieldnames:
        raise LicenseError("the CSV file is empty (a header row is needed)")
    columns = [c.strip() for c in reader.fieldnames]
    if EXTERNAL_ID_COLUMN not in columns:
        raise LicenseError(f"the CSV header has no {EXTERNAL_ID_COLUMN!r} column (found: {', '.join(columns)})")
    if len(set(columns)) != len(columns):
        raise LicenseError("the CSV header repeats a column")
    rows = []
    for number, raw in enumerate(reader, 1):
        if None in raw:
            raise LicenseError(f"row {number}: more cells than header columns")
        rows.append((number, {k.strip(): (v or "").strip() for k, v in raw.items()}))
    return rows


def issue_batch(home: Any, keystore: Any, *, type: str | LicenseType, rows: Iterable[tuple[int, dict[str, str]]],  # noqa: A002
                agency: str | None, out_dir: Path, actor: str, seal_id: str | None = None,
                sealer: service.Sealer | None = None,
                progress: Callable[[RowResult], None] | None = None) -> list[RowResult]:
    """Issue every row; write each new license to out_dir; return one RowResult per row."""
    license_type = type if isinstance(type, LicenseType) else get_type(type, home)
    if seal_id is not None and sealer is None:  # one sealer (and TSA client) for the whole batch
        sealer = service.default_sealer(home, keystore)
        if sealer is None:
            raise SealingUnavailable(f"seal {seal_id!r} was asked for, but no OFD sealer is installed (seal/ofd)")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LicenseError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from None
    seen: dict[str, int] = {}
    results = []
    for number, cells in rows:
        external_id = cells.pop(EXTERNAL_ID_COLUMN, "")
        data = {k: v for k, v in cells.items() if v != ""}
        if not external_id:
            result = RowResult(number, "", "error", error=f"{EXTERNAL_ID_COLUMN}: required")
        elif external_id in seen:
            result = RowResult(number, external_id, "error",
                               error=f"{EXTERNAL_ID_COLUMN}: repeats row {seen[external_id]}")
        else:
            seen[external_id] = number
            result = _one(home, keystore, license_type, number, external_id, data, agency=agency,
                          out_dir=out_dir, actor=actor, seal_id=seal_id, sealer=sealer)
        results.append(result)
        if progress is not None:
            progress(result)
    write_results(out_dir / RESULTS_FILE, results)
    return results


def _one(home: Any, keystore: Any, license_type: LicenseType, number: int, external_id: str,
         data: dict[str, str], *, agency: str, out_dir: Path, actor: str, seal_id: str | None,
         sealer: service.Sealer | None) -> RowResult:
    try:
        existing = service.find_by_external_id(home, license_type.code, external_id)
        if existing is not None:
            return RowResult(number, external_id, "already issued", existing)
        issued = service.issue_license(
            home, keystore, type=license_type, data=data, agency=agency, seal_id=seal_id,
            external_id=external_id, actor=actor, sealer=sealer)
    except _ROW_ERRORS as exc:  # this row fails; the others go on
        return RowResult(number, external_id, "error", error=str(exc))
    if issued.already_issued:  # a concurrent run stored it between our look-up and our insert
        return RowResult(number, external_id, "already issued", issued.license_id)
    (out_dir / f"{issued.license_id}.ofd").write_bytes(issued.ofd)
    return RowResult(number, external_id, "issued", issued.license_id)


def write_results(path: Path, results: list[RowResult]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULT_COLUMNS)
        for r in results:
            writer.writerow([r.row, r.external_id, r.status, r.license_id, r.error])
