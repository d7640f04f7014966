"""File readers for ``load_dataset``: csv, json (lines or whole-file), parquet, text and arrow, as Arrow tables.

Each reader yields tables of bounded size so that converting a big file (or streaming it) keeps memory flat.
Rows that cannot be parsed, and text cells that look garbled (control characters, the usual sign of a wrong
encoding), are collected in a :class:`BadRows` report instead of being dropped silently.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from embrace.data.arrow_writer import table_from_columns
from embrace.data.errors import SchemaError

EXTENSION_TO_BUILDER = {".csv": ("csv", {}), ".tsv": ("csv", {"sep": "\t"}), ".json": ("json", {}),
                        ".jsonl": ("json", {}), ".ndjson": ("json", {}), ".parquet": ("parquet", {}),
                        ".arrow": ("arrow", {}), ".txt": ("text", {})}
BUILDERS = ("csv", "json", "parquet", "text", "arrow")
_GARBLED = r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\x{fffd}]"  # RE2 syntax
_BATCH_ROWS = 10_000


@dataclass
class BadRows:
    """Rows a reader could not parse (skipped) or found garbled (kept); each entry is (file, row, reason, text)."""

    rows: list[tuple[str, int, str, str]] = field(default_factory=list)

    def add(self, source: str, row: int, reason: str, text: str) -> None:
        self.rows.append((source, row, reason, text[:300]))


def check_garbled(table: pa.Table, source: str, first_row: int, report: BadRows) -> None:
    """Report string cells holding control characters (kept in the data, listed in the report)."""
    import pyarrow.compute as pc

    for name in table.column_names:
        column = table.column(name)
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            continue
        hits = pc.match_substring_regex(column, _GARBLED)
        if not pc.any(hits).as_py():
            continue
        for i in pc.indices_nonzero(pc.fill_null(hits, False)).to_pylist():
            report.add(source, first_row + i, f"garbled text in column {name!r} (control characters: "
                       "wrong encoding?)", str(column[i].as_py()))


# ----------------------------------------------------------------------------------------------- csv
def _csv_options(kwargs: dict[str, Any], report: BadRows, source: str, file_size: int,
                 string_columns: set[str]) -> tuple[Any, Any, Any]:
    import pyarrow.csv as pcsv

    on_bad = kwargs.get("on_bad_lines", "warn")

    def handler(row: Any) -> str:
        if on_bad == "error":
            return "error"
        if on_bad == "warn":
            where = row.number if row.number is not None else -1
            report.add(source, where, f"expected {row.expected_columns} fields, found {row.actual_columns}", row.text)
        return "skip"

    names = kwargs.get("column_names") or kwargs.get("names")
    header = kwargs.get("header", "infer")
    read = pcsv.ReadOptions(encoding=kwargs.get("encoding") or "utf8", column_names=names,
                            skip_rows=int(kwargs.get("skiprows") or 0),
                            autogenerate_column_names=header is None and not names,
                            block_size=int(kwargs.get("block_size") or max(1 << 20, min(file_size + 1024, 64 << 20))))
    parse = pcsv.ParseOptions(delimiter=kwargs.get("sep") or kwargs.get("delimiter") or ",",
                              quote_char=kwargs.get("quotechar", '"'), newlines_in_values=True,
                              invalid_row_handler=handler)
    convert = pcsv.ConvertOptions(column_types={c: pa.string() for c in string_columns},
                                  strings_can_be_null=False, quoted_strings_can_be_null=False,
                                  include_columns=kwargs.get("usecols"))
    return read, parse, convert


def _large_strings(table: pa.Table) -> pa.Table:
    """CSV text columns as ``large_string``, the type the reference's pandas-based CSV reader produces."""
    schema = pa.schema([f.with_type(pa.large_string()) if pa.types.is_string(f.type) else f for f in table.schema])
    return table if schema.equals(table.schema) else table.cast(schema)


class ColumnTypeChanged(SchemaError):
    """A CSV column's later values do not fit the type inferred from its first block; ``column`` names it."""

    def __init__(self, message: str, column: str) -> None:
        super().__init__(message)
        self.column = column


def read_csv(path: str, kwargs: dict[str, Any], report: BadRows) -> Iterator[pa.Table]:
    """CSV, streamed batch by batch. Columns in ``kwargs["_string_columns"]`` are read as strings; a column whose
    later values do not fit its inferred type raises :class:`ColumnTypeChanged` (``load_dataset`` then restarts
    with that column as strings)."""
    import pyarrow.csv as pcsv

    string_columns: set[str] = set(kwargs.get("_string_columns") or ())
    read, parse, convert = _csv_options(kwargs, report, path, os.path.getsize(path), string_columns)
    row, names = 0, None
    try:
        reader = pcsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
        names = reader.schema.names
        for batch in reader:
            table = _large_strings(pa.Table.from_batches([batch]))
            check_garbled(table, path, row, report)
            yield table
            row += table.num_rows
    except pa.ArrowInvalid as exc:
        match = re.search(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error", str(exc))
        if match is None or names is None or names[int(match.group(1))] in string_columns:
            raise SchemaError(f"{path}: cannot parse CSV ({exc}). Check sep=, encoding= and quoting.") from exc
        column = names[int(match.group(1))]
        raise ColumnTypeChanged(f"{path}: column {column!r} has values after row {row} that do not fit the type "
                                f"inferred from its first rows ({exc}); pass features= to set its type.",
                                column) from exc
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path} is not valid {read.encoding} text ({exc}); pass encoding='latin-1' or the "
                          "file's real encoding.") from exc


# ----------------------------------------------------------------------------------------------- json
def read_json(path: str, kwargs: dict[str, Any], report: BadRows) -> Iterator[pa.Table]:
    """JSON Lines (one object per line), or one JSON document: a list of rows, a dict of columns, or ``field``."""
    import pyarrow.json as pjson

    encoding = kwargs.get("encoding") or "utf-8"
    json_field = kwargs.get("field")
    if json_field is None and encoding.replace("-", "").lower() == "utf8":
        try:
            block = max(1 << 16, min(os.path.getsize(path) + 1024, 64 << 20))  # small files: small buffers
            table = pjson.read_json(path, read_options=pjson.ReadOptions(block_size=block))
            check_garbled(table, path, 0, report)
            for start in range(0, table.num_rows, _BATCH_ROWS):
                yield table.slice(start, _BATCH_ROWS)
            return
        except pa.ArrowInvalid:
            pass  # not JSON Lines with consistent types: fall back to Python parsing below
    with open(path, encoding=encoding, errors="replace") as handle:
        text = handle.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    if document is not None and not (isinstance(document, dict) and json_field is None and not any(
            isinstance(v, list) for v in document.values())):
        if json_field is not None:
            document = document[json_field]
        if isinstance(document, dict):
            table = table_from_columns(document)
        else:
            rows = document if isinstance(document, list) else [document]
            keys = list(dict.fromkeys(k for r in rows for k in r))
            table = table_from_columns({k: [r.get(k) for r in rows] for k in keys})
    else:
        rows, row_number = [], 0
        for line_number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                report.add(path, line_number, f"invalid JSON: {exc}", line)
            row_number += 1
        keys = list(dict.fromkeys(k for r in rows if isinstance(r, dict) for k in r))
        table = table_from_columns({k: [r.get(k) if isinstance(r, dict) else None for r in rows] for k in keys})
    check_garbled(table, path, 0, report)
    for start in range(0, table.num_rows, _BATCH_ROWS):
        yield table.slice(start, _BATCH_ROWS)


# ----------------------------------------------------------------------------------------------- others
def read_parquet(path: str, kwargs: dict[str, Any], report: BadRows) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=kwargs.get("columns")):
        yield pa.Table.from_batches([batch])


def read_arrow(path: str, kwargs: dict[str, Any], report: BadRows) -> Iterator[pa.Table]:
    from embrace.data.arrow_writer import read_arrow_file

    table = read_arrow_file(path)
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        yield pa.Table.from_batches([batch])


def read_text(path: str, kwargs: dict[str, Any], report: BadRows) -> Iterator[pa.Table]:
    """One row per line (``sample_by="line"``), per blank-line paragraph, or per file (``"document"``)."""
    encoding = kwargs.get("encoding") or "utf-8"
    sample_by = kwargs.get("sample_by", "line")
    keep_linebreaks = bool(kwargs.get("keep_linebreaks", False))
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        text = raw.decode(encoding, errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if "\ufffd" in line:
                report.add(path, number, f"bytes that are not valid {encoding}", line)
    if sample_by == "document":
        samples = [text]
    elif sample_by == "paragraph":
        samples = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    else:
        samples = text.splitlines(keepends=keep_linebreaks)
    for start in range(0, len(samples), _BATCH_ROWS):
        yield pa.table({"text": pa.array(samples[start: start + _BATCH_ROWS], type=pa.string())})


READERS = {"csv": read_csv, "json": read_json, "parquet": read_parquet, "arrow": read_arrow, "text": read_text}


def read_file(builder: str, path: str, kwargs: dict[str, Any], report: BadRows) -> Iterator[pa.Table]:
    if builder not in READERS:
        raise ValueError(f"Unknown data format {builder!r}; use one of {list(READERS)}.")
    yield from READERS[builder](path, kwargs, report)
