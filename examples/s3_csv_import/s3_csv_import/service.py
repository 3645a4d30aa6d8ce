"""Fetches an uploaded CSV from S3, parses it into users, and hands them to the dao.

The whole file is parsed and checked before anything is written, so a malformed file imports
no user at all and fails with :class:`MalformedCsvError`, naming the line and the problem.

The object is read as it is *now*, not at the version the notification names. S3 delivers
notifications late, twice and out of order; reading the current content makes every import
bring the users table to the file's latest content, so a late notification of an older version
cannot bring its rows back. It also needs only ``s3:GetObject``.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Protocol

import boto3

from s3_csv_import import dao
from s3_csv_import.dao import User

HEADER: Final = ("name", "country", "age")
"""The first line every file must have."""

MAX_AGE: Final = 150

_COUNTRY = re.compile(r"[A-Z]{2}")
_AGE = re.compile(r"[0-9]{1,3}")  # int() alone would accept "+3", " 3", "3_0" and "٣"


class MalformedCsvError(ValueError):
    """The file is not a users CSV: ``line`` (1-based) and ``problem`` say where and why."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        super().__init__(f"{source}, line {line}: {problem}")


class ObjectReader(Protocol):
    """The one S3 call the service makes (a boto3 S3 client has it)."""

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        """Read an object: ``Body`` is its stream."""
        ...


@functools.cache
def s3_client() -> ObjectReader:
    """The S3 client, made on first use and kept for the container's warm invocations."""
    client: ObjectReader = boto3.client("s3")  # AWS_ENDPOINT_URL_S3 is honoured by boto3
    return client


@dataclass(frozen=True)
class Fetched:
    """An object's content and which version of it was read."""

    content: bytes
    version_id: str | None
    """``None`` on an unversioned bucket."""
    etag: str


@dataclass(frozen=True)
class Imported:
    """What an import wrote: how many users, from which version of the file."""

    users: int
    version_id: str | None
    etag: str


def import_users(bucket: str, key: str) -> Imported:
    """Fetch ``s3://bucket/key``, parse it and save its users."""
    source = f"s3://{bucket}/{key}"
    fetched = fetch(bucket, key)
    users = parse_users(fetched.content, source=source)
    dao.save_users(users, source=source)
    return Imported(users=len(users), version_id=fetched.version_id, etag=fetched.etag)


def fetch(bucket: str, key: str) -> Fetched:
    """The object's current content."""
    response = s3_client().get_object(Bucket=bucket, Key=key)
    with response["Body"] as body:
        content: bytes = body.read()
    version = response.get("VersionId")
    return Fetched(
        content=content,
        version_id=None if version in (None, "null") else str(version),  # "null": unversioned
        etag=str(response["ETag"]).strip('"'),
    )


def parse_users(content: bytes, *, source: str) -> list[User]:
    """The users of a CSV file with the header ``name,country,age``.

    UTF-8 (a byte-order mark, as spreadsheets write, is skipped); blank lines are ignored and
    fields are trimmed; country codes are upper-cased. Raises :class:`MalformedCsvError` for
    anything else: a wrong header, a row without three fields, an empty name, a country that is
    not two letters, an age that is not a whole number from 0 to 150, or a user (name and
    country) listed twice, which would leave which row wins to chance.
    """
    rows = _rows(_decode(content, source), source)
    header = next(rows, None)
    if header is None:
        raise MalformedCsvError(source, 1, f"the file is empty; expected the header {_header()}")
    line, fields = header
    if tuple(field.strip().lower() for field in fields) != HEADER:
        raise MalformedCsvError(
            source, line, f"expected the header {_header()}, got {','.join(fields)!r}"
        )
    users: list[User] = []
    first_seen: dict[str, int] = {}
    for line, fields in rows:
        user = _user(fields, source, line)
        if user.user_id in first_seen:
            raise MalformedCsvError(
                source,
                line,
                f"{user.name!r} ({user.country}) is already on line {first_seen[user.user_id]}",
            )
        first_seen[user.user_id] = line
        users.append(user)
    return users


def _decode(content: bytes, source: str) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise MalformedCsvError(source, line, "the file is not UTF-8 text") from exc


def _rows(text: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` for each non-blank row; ``line`` is where the row starts.

    A quoted field may span lines, so the start is counted, not taken from ``line_num`` (the
    line the reader has reached).
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for fields in reader:
            if fields:  # csv yields [] for a blank line
                yield start, fields
            start = reader.line_num + 1
    except csv.Error as exc:  # an unterminated quote, a stray quote after a quoted field
        problem = str(exc)
        if "end of data" in problem:  # the csv module's words for a quote left open
            problem = "a quoted field starting on this line is never closed"
        raise MalformedCsvError(source, start, f"invalid CSV: {problem}") from exc


def _user(fields: list[str], source: str, line: int) -> User:
    if len(fields) != len(HEADER):
        raise MalformedCsvError(
            source, line, f"expected {len(HEADER)} fields ({_header()}), got {len(fields)}"
        )
    name, country, age = (field.strip() for field in fields)
    if not name:
        raise MalformedCsvError(source, line, "the name is empty")
    country = country.upper()
    if not _COUNTRY.fullmatch(country):
        raise MalformedCsvError(
            source, line, f"country {country!r} is not a two-letter ISO 3166 code"
        )
    if not _AGE.fullmatch(age) or int(age) > MAX_AGE:
        raise MalformedCsvError(
            source, line, f"age {age!r} is not a whole number from 0 to {MAX_AGE}"
        )
    return User(name=name, country=country, age=int(age))


def _header() -> str:
    return ",".join(HEADER)
