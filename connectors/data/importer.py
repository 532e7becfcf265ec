"""Load the business's data from CSV files (an ERP export), all or nothing.

    python -m connectors.data.importer [--dry-run] --companies companies.csv --contacts contacts.csv \\
        --orders orders.csv [--production-runs runs.csv] [--defects defects.csv]

Each file has a header row naming the data API's fields (openapi/data.yaml); an empty cell is no value.
The rows go through the data API's validation and upserts in one transaction, in the order companies,
contacts, orders, production runs, defects, so a file may refer to rows of the files before it. Any
problem in any row (reported with file, line and field) writes nothing; --dry-run checks everything,
references included, and writes nothing either way. Loading the same files again changes nothing.
"""
from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from database.session import lock_for_write, sessions
from connectors.data.rows import KINDS, Kind, Problem, validate_each
from connectors.data.store import WRITE_LOCK, apply


@dataclass(frozen=True)
class FileProblem:
    """One problem, located in a file."""

    file: str
    line: int
    field: str
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message} ({self.code})" if self.field else \
            f"{where}: {self.message} ({self.code})"


@dataclass
class Report:
    """What an import did or would do: counts per kind, or every problem."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[FileProblem] = field(default_factory=list)
    written: bool = False


@dataclass(frozen=True)
class CsvFile:
    """One file's rows with the line each starts on, and problems with the file itself."""

    name: str
    rows: list[dict[str, Any]]
    lines: list[int]
    problems: list[FileProblem]


class _Rollback(Exception):
    """Leave the transaction without writing."""


def read_csv(path: Path, kind: Kind) -> CsvFile:
    """Return a file's rows keyed by its header, checking the header against the kind's fields."""
    name = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: Excel's byte order mark
            reader = csv.reader(handle, strict=True)
            header = [h.strip() for h in next(reader, [])]
            problems = _header_problems(name, header, kind)
            rows, lines = [], []
            start = reader.line_num + 1
            for cells in reader:
                if any(c.strip() for c in cells):  # blank lines are not rows
                    if len(cells) > len(header):
                        problems.append(FileProblem(name, start, "", "extra_cells",
                                                    f"the row has {len(cells)} cells, the header {len(header)}"))
                    rows.append({h: c for h, c in zip(header, cells) if h in kind.field_names})
                    lines.append(start)
                start = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return CsvFile(name, [], [], [FileProblem(name, 0, "", "unreadable", f"cannot read the file: {exc}")])
    return CsvFile(name, rows, lines, problems)


def _header_problems(name: str, header: list[str], kind: Kind) -> list[FileProblem]:
    """Return problems with a header: unknown, repeated or missing required columns."""
    problems = [FileProblem(name, 1, column, "unknown_column",
                            f"{kind.name} files have no column {column!r}; columns: {', '.join(kind.field_names)}")
                for column in header if column not in kind.field_names]
    problems += [FileProblem(name, 1, column, "repeated_column", "the column appears twice")
                 for i, column in enumerate(header) if column in header[:i]]
    problems += [FileProblem(name, 1, f.name, "missing_column", "this column is required")
                 for f in kind.fields if f.required and f.name not in header]
    return problems


def run(files: dict[str, Path], dry_run: bool = False) -> Report:
    """Check every file and upsert them all in one transaction; write nothing on any problem or when dry_run.

    The rows that pass validation are upserted even when others did not, inside the transaction that is
    then rolled back, so the report also names references that lead nowhere.
    """
    report = Report()
    loaded: list[tuple[Kind, CsvFile, list[int], list[Any]]] = []
    for kind in KINDS.values():  # in dependency order
        if kind.name not in files:
            continue
        data = read_csv(files[kind.name], kind)
        report.problems += data.problems
        if any(p.code in ("missing_column", "unreadable") for p in data.problems):
            continue  # every row would repeat the same complaint
        valid, problems = validate_each(kind, data.rows, csv=True)
        report.problems += [_located(data, p.row, p) for p in problems]
        loaded.append((kind, data, [index for index, _ in valid], [record for _, record in valid]))
    try:
        with sessions().begin() as session:
            lock_for_write(session, WRITE_LOCK)
            for kind, data, indexes, records in loaded:
                outcome = apply(session, kind, records)
                report.problems += [_located(data, indexes[p.row], p) for p in outcome.problems]
                report.counts[kind.name] = outcome.counts()
            if report.problems or dry_run:
                raise _Rollback()
            report.written = True
    except _Rollback:
        pass
    report.problems.sort(key=lambda p: (list(files).index(_kind_of(p.file, files)), p.line))
    return report


def _kind_of(file_name: str, files: dict[str, Path]) -> str:
    """Return the kind whose file has this name."""
    return next(kind for kind, path in files.items() if path.name == file_name)


def _located(data: CsvFile, index: int, problem: Problem) -> FileProblem:
    """Return a row problem with the file and the line its row starts on."""
    return FileProblem(data.name, data.lines[index], problem.field, problem.code, problem.message)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the import from the command line; return the exit status (0 imported or checked, 1 problems)."""
    parser = argparse.ArgumentParser(prog="python -m connectors.data.importer",
                                     description="Load companies, contacts, orders, production runs and defect "
                                                 "reports from CSV files, all or nothing.")
    parser.add_argument("--dry-run", action="store_true", help="check everything, write nothing")
    for kind in KINDS.values():
        parser.add_argument(f"--{kind.name}", type=Path, metavar="FILE.csv", help=f"{kind.name} rows")
    args = parser.parse_args(argv)
    files = {k.name: getattr(args, k.name.replace("-", "_")) for k in KINDS.values()}
    files = {name: path for name, path in files.items() if path is not None}
    if not files:
        parser.error("name at least one file, e.g. --companies companies.csv")
    report = run(files, dry_run=args.dry_run)
    if report.problems:
        print(f"{len(report.problems)} problems; nothing was written:", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    verb = "" if report.written else "would be "
    for name, counted in report.counts.items():
        print(f"{files[name].name}: {counted['created']} {verb}created, {counted['updated']} {verb}updated, "
              f"{counted['unchanged']} unchanged")
    print("imported" if report.written else "dry run: every row is valid; nothing was written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
