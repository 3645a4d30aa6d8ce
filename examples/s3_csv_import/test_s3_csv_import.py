"""examples/s3_csv_import end to end: DynamoDB Local for both tables, moto's server for S3.

S3 is moto's ``ThreadedMotoServer`` (the session's ``s3_endpoint``, from the root conftest): a
real HTTP endpoint on 127.0.0.1, so the example's boto3 S3 client runs its whole code path
(signing, XML parsing, streamed bodies) as it does in Lambda; DynamoDB Local has no S3. The
handler is configured only through the environment, as in a deployment, and is called with S3
notifications built from the real PutObject responses.
"""

from __future__ import annotations

import importlib
import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
import yaml
from botocore.awsrequest import AWSResponse, HTTPHeaders

from idemlock import DynamoDBStore, LockItem, LockStatus
from idemlock.batch import RecordStatus
from idemlock.dynamodb import BATCH_ACTIONS, RUNTIME_ACTIONS
from idemlock.errors import BatchFailedError
from idemlock.keys import storage_key
from idemlock.testing import LambdaContext
from s3_csv_import import dao, handler, service
from s3_csv_import.dao import User
from s3_csv_import.service import MalformedCsvError
from tests.aws import REGION, create_app_table, fresh_table, make_client, use_local_aws
from tests.delivered_events import S3_TEST_EVENT, sqs_record

HERE = Path(__file__).resolve().parent
LOCK_TABLE_ACTIONS = [*RUNTIME_ACTIONS, *BATCH_ACTIONS]
"""The handler is a batch (``@idempotent_records``): its writes go 25 records to a request."""

USERS = "name,country,age\nAlice,JP,30\nBob,FR,41\n"
CHANGED_USERS = "name,country,age\nAlice,JP,31\nCarol,DE,25\n"

_sequencer = itertools.count(0x0055AED6DCD90281E5)


@dataclass(frozen=True)
class Upload:
    """An object put to the bucket, and the notification S3 sends for it."""

    key: str
    version_id: str | None
    etag: str
    event: dict[str, Any]


@dataclass
class Deployment:
    """The example's resources for one test, and ways to look at them."""

    bucket: str
    locks: DynamoDBStore
    users_table: str
    dynamodb: Any
    s3: Any

    def upload(self, key: str, body: str | bytes) -> Upload:
        """Put ``body`` at ``key``; the upload with the notification S3 would deliver."""
        data = body.encode() if isinstance(body, str) else body
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        etag = response["ETag"].strip('"')
        version_id = response.get("VersionId")
        return Upload(key, version_id, etag, s3_event(self.bucket, key, data, etag, version_id))

    def use_unversioned_bucket(self) -> None:
        """Switch uploads to a new bucket without versioning."""
        self.bucket = f"plain-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=self.bucket)

    def users(self) -> dict[str, dict[str, str]]:
        """The users table: item by ``user_id``, attribute values as text."""
        items = self.dynamodb.scan(TableName=self.users_table, ConsistentRead=True)["Items"]
        return {
            item["user_id"]["S"]: {name: next(iter(value.values())) for name, value in item.items()}
            for item in items
        }

    def lock(self, upload: Upload) -> LockItem | None:
        """The lock item of an upload's notification, under the current key choice."""
        [record] = upload.event["Records"]
        return self.locks.get(storage_key(handler.NAMESPACE, handler.import_key(record)))


def s3_event(
    bucket: str, key: str, data: bytes, etag: str, version_id: str | None
) -> dict[str, Any]:
    """The ObjectCreated notification of one object, in the shape S3 delivers it."""
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),  # S3 URL-encodes keys, "+" for a space
        "size": len(data),
        "eTag": etag,
        "sequencer": f"{next(_sequencer):018X}",
    }
    if version_id is not None:
        obj["versionId"] = version_id
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-11-20T01:02:03.456Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "csv-import",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
    }
    return {"Records": [record]}


def _forget_clients() -> None:
    """Drop the example's cached clients, so the next ones read this test's environment."""
    service.s3_client.cache_clear()
    dao.dynamodb_client.cache_clear()


@pytest.fixture
def deployment(
    dynamodb_local: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    """Fresh tables and a versioned bucket (as template.yaml has), named in the environment."""
    locks = fresh_table(dynamodb_local)
    dynamodb = make_client(dynamodb_local)
    users_table = create_app_table(dynamodb, "users", "user_id")
    s3 = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"uploads-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "IDEMLOCK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(handler.KEY_ENV, raising=False)
    # What Lambda provides, pointed at the local servers, and what template.yaml sets:
    use_local_aws(monkeypatch, dynamodb_local)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    monkeypatch.setenv("IDEMLOCK_TABLE", locks.table_name)
    monkeypatch.setenv(dao.TABLE_ENV, users_table)
    _forget_clients()
    yield Deployment(bucket, locks, users_table, dynamodb, s3)
    _forget_clients()


@pytest.fixture
def imports(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every run of the service's import (the body idemlock guards), as ``(bucket, key)``."""
    calls: list[tuple[str, str]] = []
    real = service.import_users

    def spy(bucket: str, key: str) -> service.Imported:
        calls.append((bucket, key))
        return real(bucket, key)

    monkeypatch.setattr(service, "import_users", spy)
    return calls


def test_an_upload_imports_its_rows_and_completes_its_lock(deployment: Deployment) -> None:
    """An upload's rows become users (id, fields, source file); its lock is COMPLETED with
    the report, under a key naming the decoded object key and its version."""
    upload = deployment.upload("incoming/new users (1).csv", USERS)
    assert upload.event["Records"][0]["s3"]["object"]["key"] == "incoming/new+users+%281%29.csv"

    assert handler.handler(upload.event, LambdaContext()) == {"batchItemFailures": []}

    source = f"s3://{deployment.bucket}/incoming/new users (1).csv"
    assert deployment.users() == {
        "JP#Alice": {
            "user_id": "JP#Alice",
            "name": "Alice",
            "country": "JP",
            "age": "30",
            "source": source,
        },
        "FR#Bob": {
            "user_id": "FR#Bob",
            "name": "Bob",
            "country": "FR",
            "age": "41",
            "source": source,
        },
    }
    lock = deployment.lock(upload)
    assert lock is not None
    assert lock.key == (
        f"s3-csv-import#{deployment.bucket}/incoming/new users (1).csv@{upload.version_id}"
    )
    assert lock.status is LockStatus.COMPLETED
    assert lock.result is not None
    report = json.loads(lock.result)
    assert report["imported"] == 2
    assert report["read"] == {"version_id": upload.version_id, "etag": upload.etag}


def test_the_same_notification_twice_imports_once(
    deployment: Deployment, imports: list[tuple[str, str]]
) -> None:
    """A redelivered notification is skipped: the import ran once, the duplicate gets the
    stored report, and the users table is as after the first delivery."""
    upload = deployment.upload("users.csv", USERS)

    first = handler.handler.process(upload.event, LambdaContext())
    users_after_first = deployment.users()
    second = handler.handler.process(upload.event, LambdaContext())

    assert [r.status for r in first.records] == [RecordStatus.COMPLETED]
    assert [r.status for r in second.records] == [RecordStatus.DUPLICATE]
    assert second.records[0].result == first.records[0].result
    assert imports == [(deployment.bucket, "users.csv")]
    assert deployment.users() == users_after_first
    assert len(users_after_first) == 2


@pytest.mark.parametrize("key_choice", ["object_version", "object_key"])
def test_a_malformed_file_fails_leaves_no_lock_and_its_corrected_upload_imports_once(
    deployment: Deployment,
    imports: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    key_choice: str,
) -> None:
    """A malformed file raises BatchFailedError carrying MalformedCsvError (line and problem),
    writes no user and leaves no lock; the corrected file uploaded under the same name is
    imported, once, with either key choice."""
    monkeypatch.setenv(handler.KEY_ENV, key_choice)
    bad = deployment.upload("daily.csv", "name,country,age\nAlice,JP,30\nBob,France,41\n")

    with pytest.raises(BatchFailedError) as failed:
        handler.handler(bad.event, LambdaContext())

    [failure] = failed.value.outcome.failures
    assert isinstance(failure.error, MalformedCsvError)
    assert failure.error.line == 3
    assert failure.error.problem == "country 'FRANCE' is not a two-letter ISO 3166 code"
    assert str(failure.error).startswith(f"s3://{deployment.bucket}/daily.csv, line 3: ")
    assert deployment.lock(bad) is None
    assert deployment.users() == {}

    fixed = deployment.upload("daily.csv", "name,country,age\nAlice,JP,30\nBob,FR,41\n")
    assert handler.handler(fixed.event, LambdaContext()) == {"batchItemFailures": []}
    assert handler.handler(fixed.event, LambdaContext()) == {"batchItemFailures": []}

    assert imports == [(deployment.bucket, "daily.csv")] * 2  # the failed run, then the fixed
    assert set(deployment.users()) == {"JP#Alice", "FR#Bob"}
    lock = deployment.lock(fixed)
    assert lock is not None
    assert lock.status is LockStatus.COMPLETED


class ConnectionLost(Exception):
    """Stands in for the invocation failing between two batch writes."""


def test_an_import_that_failed_half_way_is_finished_by_the_retry_without_duplicates(
    deployment: Deployment,
) -> None:
    """30 rows are written as batches of 25 and 5; a failure after the first batch leaves 25
    users and no lock, and Lambda's retry of the event writes all 30, each once."""
    rows = "".join(f"User {n},JP,{20 + n}\n" for n in range(30))
    upload = deployment.upload("big.csv", "name,country,age\n" + rows)
    batch_writes = itertools.count(1)

    def fail_second_batch(**_: Any) -> None:
        if next(batch_writes) == 2:
            raise ConnectionLost("the invocation failed after the first batch")

    client = dao.dynamodb_client()
    client.meta.events.register("before-call.dynamodb.BatchWriteItem", fail_second_batch)

    with pytest.raises(BatchFailedError) as failed:
        handler.handler(upload.event, LambdaContext())
    assert isinstance(failed.value.outcome.failures[0].error, ConnectionLost)
    assert len(deployment.users()) == 25
    assert deployment.lock(upload) is None

    assert handler.handler(upload.event, LambdaContext()) == {"batchItemFailures": []}
    users = deployment.users()
    assert len(users) == 30
    assert users["JP#User 29"]["age"] == "49"
    lock = deployment.lock(upload)
    assert lock is not None
    assert lock.status is LockStatus.COMPLETED


def _unprocessed_for(calls: int) -> Any:
    """A botocore hook answering the first ``calls`` BatchWriteItem requests with every item
    unprocessed, as DynamoDB does when it throttles; later requests go through."""
    answered = itertools.count()

    def hook(params: dict[str, Any], **_: Any) -> Any:
        if next(answered) >= calls:
            return None
        items = json.loads(params["body"])["RequestItems"]
        return AWSResponse("http://127.0.0.1/throttled", 200, HTTPHeaders(), None), {
            "UnprocessedItems": items
        }

    return hook


def test_unprocessed_items_are_sent_again_and_fail_the_import_if_they_stay(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items DynamoDB leaves unprocessed are sent again after a growing pause; if they are
    still unprocessed after MAX_ATTEMPTS requests, the import fails with IncompleteWriteError
    and releases its lock."""
    pauses: list[float] = []
    monkeypatch.setattr(dao, "sleep", pauses.append)
    events = dao.dynamodb_client().meta.events
    throttled_twice = _unprocessed_for(2)
    events.register("before-call.dynamodb.BatchWriteItem", throttled_twice)

    first = deployment.upload("users.csv", USERS)
    assert handler.handler(first.event, LambdaContext()) == {"batchItemFailures": []}
    assert pauses == [0.1, 0.2]
    assert set(deployment.users()) == {"JP#Alice", "FR#Bob"}

    events.unregister("before-call.dynamodb.BatchWriteItem", throttled_twice)
    events.register("before-call.dynamodb.BatchWriteItem", _unprocessed_for(10**6))
    pauses.clear()
    second = deployment.upload("more.csv", "name,country,age\nCarol,DE,25\n")
    with pytest.raises(BatchFailedError) as failed:
        handler.handler(second.event, LambdaContext())

    error = failed.value.outcome.failures[0].error
    assert isinstance(error, dao.IncompleteWriteError)
    assert error.unprocessed == 1
    assert len(pauses) == dao.MAX_ATTEMPTS - 1
    assert deployment.lock(second) is None
    assert "DE#Carol" not in deployment.users()


def test_object_key_skips_a_changed_file_under_the_same_name(
    deployment: Deployment, imports: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMPORT_KEY=object_key: the key is the object's name, so a changed file uploaded under
    the name of an imported one is a duplicate and its rows are not imported."""
    monkeypatch.setenv(handler.KEY_ENV, "object_key")
    first = deployment.upload("users.csv", USERS)
    handler.handler(first.event, LambdaContext())

    changed = deployment.upload("users.csv", CHANGED_USERS)
    outcome = handler.handler.process(changed.event, LambdaContext())

    assert [r.status for r in outcome.records] == [RecordStatus.DUPLICATE]
    assert imports == [(deployment.bucket, "users.csv")]
    users = deployment.users()
    assert set(users) == {"JP#Alice", "FR#Bob"}
    assert users["JP#Alice"]["age"] == "30"


def test_object_version_imports_a_changed_file_under_the_same_name(
    deployment: Deployment, imports: list[tuple[str, str]]
) -> None:
    """IMPORT_KEY=object_version (the default): a changed file is a new version, so it is
    imported: users are updated and added (never deleted), one lock per version."""
    first = deployment.upload("users.csv", USERS)
    handler.handler(first.event, LambdaContext())

    changed = deployment.upload("users.csv", CHANGED_USERS)
    outcome = handler.handler.process(changed.event, LambdaContext())

    assert [r.status for r in outcome.records] == [RecordStatus.COMPLETED]
    assert imports == [(deployment.bucket, "users.csv")] * 2
    users = deployment.users()
    assert {user_id: user["age"] for user_id, user in users.items()} == {
        "JP#Alice": "31",
        "FR#Bob": "41",
        "DE#Carol": "25",
    }
    locks = [deployment.lock(first), deployment.lock(changed)]
    assert [lock.status if lock else None for lock in locks] == [LockStatus.COMPLETED] * 2
    assert first.version_id != changed.version_id


def test_a_late_notification_of_an_older_version_does_not_bring_back_its_rows(
    deployment: Deployment,
) -> None:
    """S3 may deliver the older version's notification last: the import reads the object as
    it is now, so the users table keeps the newer content, and the report says so."""
    first = deployment.upload("users.csv", USERS)
    changed = deployment.upload("users.csv", CHANGED_USERS)

    handler.handler(changed.event, LambdaContext())
    late = handler.handler.process(first.event, LambdaContext())

    [record] = late.records
    assert record.status is RecordStatus.COMPLETED
    assert record.result["notified"]["version_id"] == first.version_id
    assert record.result["read"]["version_id"] == changed.version_id
    assert deployment.users()["JP#Alice"]["age"] == "31"


def test_object_version_on_an_unversioned_bucket_keys_by_etag(
    deployment: Deployment, imports: list[tuple[str, str]]
) -> None:
    """Without bucket versioning, object_version keys by eTag: re-uploading the same bytes is
    a duplicate, a changed file is imported."""
    deployment.use_unversioned_bucket()
    first = deployment.upload("users.csv", USERS)
    same = deployment.upload("users.csv", USERS)
    changed = deployment.upload("users.csv", CHANGED_USERS)
    assert first.version_id is None
    assert first.etag == same.etag != changed.etag

    statuses = [
        handler.handler.process(upload.event, LambdaContext()).records[0].status
        for upload in (first, same, changed)
    ]

    assert statuses == [RecordStatus.COMPLETED, RecordStatus.DUPLICATE, RecordStatus.COMPLETED]
    lock = deployment.lock(first)
    assert lock is not None
    assert lock.key.endswith(f"/users.csv@{first.etag}")
    assert deployment.users()["JP#Alice"]["age"] == "31"
    assert len(imports) == 2


def test_a_batch_with_a_malformed_file_imports_the_others_and_its_retry_runs_only_that_one(
    deployment: Deployment, imports: list[tuple[str, str]]
) -> None:
    """S3 has no partial batch response: every object of the event is tried, the event fails
    for the malformed one, and Lambda's retry skips the object that completed."""
    good = deployment.upload("good.csv", USERS)
    bad = deployment.upload("bad.csv", "name,country,age\nDan,US,forty\n")
    event = {"Records": good.event["Records"] + bad.event["Records"]}

    for _attempt in range(2):  # the delivery and Lambda's first retry
        with pytest.raises(BatchFailedError) as failed:
            handler.handler(event, LambdaContext())
        [failure] = failed.value.outcome.failures
        assert failure.index == 1
        assert isinstance(failure.error, MalformedCsvError)

    statuses = [r.status for r in failed.value.outcome.records]
    assert statuses == [RecordStatus.DUPLICATE, RecordStatus.FAILED]
    assert imports == [(deployment.bucket, "good.csv")] + [(deployment.bucket, "bad.csv")] * 2
    assert set(deployment.users()) == {"JP#Alice", "FR#Bob"}
    assert deployment.lock(bad) is None


def test_an_unknown_key_choice_fails_before_anything_is_claimed_or_read(
    deployment: Deployment, imports: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMPORT_KEY with a value that is not a key function fails the event, naming the choices,
    without a claim in the lock table and without reading the object."""
    monkeypatch.setenv(handler.KEY_ENV, "by_name")
    upload = deployment.upload("users.csv", USERS)

    with pytest.raises(BatchFailedError) as failed:
        handler.handler(upload.event, LambdaContext())

    error = failed.value.outcome.failures[0].error
    assert isinstance(error, ValueError)
    assert "object_key, object_version" in str(error)
    assert list(deployment.locks.scan()) == []
    assert imports == []


# -- parsing ----------------------------------------------------------------------------------


def test_parse_users_reads_what_spreadsheets_write() -> None:
    """A byte-order mark, CRLF line ends, blank lines, padded fields, a quoted name with a
    comma and a lower-case country are all read."""
    content = ('\ufeffname,country,age\r\n\r\n"Smith, Jane", gb , 7 \r\nZoë,fr,0\r\n\r\n').encode()

    users = service.parse_users(content, source="s3://b/k.csv")

    assert users == [User("Smith, Jane", "GB", 7), User("Zoë", "FR", 0)]


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        (b"", 1, "the file is empty; expected the header name,country,age"),
        (b"name,age\nAlice,30\n", 1, "expected the header name,country,age, got 'name,age'"),
        (b"name,country,age\nAlice,JP\n", 2, "expected 3 fields (name,country,age), got 2"),
        (b"name,country,age\nAlice,JP,30,x\n", 2, "expected 3 fields (name,country,age), got 4"),
        (b"name,country,age\n ,JP,30\n", 2, "the name is empty"),
        (b"name,country,age\nAlice,JPN,30\n", 2, "country 'JPN' is not a two-letter ISO 3166 code"),
        (b"name,country,age\nAlice,JP,-1\n", 2, "age '-1' is not a whole number from 0 to 150"),
        (b"name,country,age\nAlice,JP,30.5\n", 2, "age '30.5' is not a whole number from 0 to 150"),
        (b"name,country,age\nAlice,JP,151\n", 2, "age '151' is not a whole number from 0 to 150"),
        (b"name,country,age\nAlice,JP,\n", 2, "age '' is not a whole number from 0 to 150"),
        (
            b"name,country,age\nAlice,JP,30\nBob,FR,41\nAlice,jp,31\n",
            4,
            "'Alice' (JP) is already on line 2",
        ),
        (b"name,country,age\nAlice,JP,30\n\xff,FR,41\n", 3, "the file is not UTF-8 text"),
        (b'name,country,age\n"Alice"x,JP,30\n', 2, "invalid CSV: ',' expected after '\"'"),
        (
            b'name,country,age\nBob,FR,41\n"Alice,JP,30\nCarol,DE,25\n',
            3,
            "invalid CSV: a quoted field starting on this line is never closed",
        ),
        (
            b'name,country,age\n"Alice\nSmith",JP,30,1\n',
            2,
            "expected 3 fields (name,country,age), got 4",
        ),
    ],
)
def test_parse_users_names_the_line_and_the_problem(
    content: bytes, line: int, problem: str
) -> None:
    """Each way a file can be malformed is a MalformedCsvError with the line and problem."""
    with pytest.raises(MalformedCsvError) as malformed:
        service.parse_users(content, source="s3://b/k.csv")

    assert (malformed.value.line, malformed.value.problem) == (line, problem)
    assert str(malformed.value) == f"s3://b/k.csv, line {line}: {problem}"


# -- infrastructure ---------------------------------------------------------------------------
# examples/test_infrastructure.py checks every example's lock table, trigger and lock-table
# policy; these check what only this example knows: that the role grants what the code calls.


def _statements(statements: list[dict[str, Any]]) -> dict[str, tuple[list[str], Any]]:
    return {s["Sid"]: (s["Action"], s["Resource"]) for s in statements if s["Effect"] == "Allow"}


def test_the_sam_template_grants_the_function_exactly_what_the_code_calls() -> None:
    """template.yaml: the handler string is this handler; its own role may do the lock actions
    (a batch's too) on the lock table, the dao's actions on the users table, GetObject on the
    upload bucket's objects, send to the on-failure queue and write its log group, and nothing
    else; the key choice defaults as the code does."""
    template = yaml.safe_load((HERE / "template.yaml").read_text())
    resources = template["Resources"]
    function = resources["ImportFunction"]["Properties"]
    module, _, name = function["Handler"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is handler.handler
    assert function["CodeUri"] == "."

    assert "Policies" not in function  # SAM's generated role would add managed policies
    assert function["Role"] == {"Fn::GetAtt": ["ImportFunctionRole", "Arn"]}
    [policy] = resources["ImportFunctionRole"]["Properties"]["Policies"]
    granted = _statements(policy["PolicyDocument"]["Statement"])
    assert granted == {
        "IdemlockLockTable": (LOCK_TABLE_ACTIONS, {"Fn::GetAtt": ["IdemlockTable", "Arn"]}),
        "WriteUsers": (list(dao.IAM_ACTIONS), {"Fn::GetAtt": ["UsersTable", "Arn"]}),
        "ReadUploads": (
            ["s3:GetObject"],
            {"Fn::Sub": "arn:${AWS::Partition}:s3:::${UploadBucketName}/*"},
        ),
        "ReportFailedImports": (
            ["sqs:SendMessage"],
            {"Fn::GetAtt": ["FailedImportsQueue", "Arn"]},
        ),
        "WriteLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            {"Fn::GetAtt": ["ImportLogGroup", "Arn"]},
        ),
    }
    assert resources["UploadBucket"]["Properties"]["BucketName"] == {"Ref": "UploadBucketName"}
    [trigger] = function["Events"].values()
    assert trigger["Properties"]["Bucket"] == {"Ref": "UploadBucket"}

    assert function["Environment"]["Variables"] == {
        "IDEMLOCK_TABLE": {"Ref": "IdemlockTable"},
        dao.TABLE_ENV: {"Ref": "UsersTable"},
        handler.KEY_ENV: {"Ref": "ImportKey"},
    }
    key_choice = template["Parameters"]["ImportKey"]
    assert key_choice["Default"] == handler.DEFAULT_KEY
    assert set(key_choice["AllowedValues"]) == set(handler.KEY_FUNCTIONS)
    users_key = resources["UsersTable"]["Properties"]["KeySchema"]
    assert users_key == [{"AttributeName": "user_id", "KeyType": "HASH"}]


def test_serverless_yml_grants_the_function_exactly_what_the_code_calls() -> None:
    """serverless.yml: the same handler, environment and grants as template.yaml (the log group
    is the framework's)."""
    config = yaml.safe_load((HERE / "serverless.yml").read_text())
    provider = config["provider"]
    [function] = config["functions"].values()
    assert function["handler"] == "s3_csv_import.handler.handler"

    granted = _statements(provider["iam"]["role"]["statements"])
    assert granted == {
        "IdemlockLockTable": (LOCK_TABLE_ACTIONS, {"Fn::GetAtt": ["IdemlockTable", "Arn"]}),
        "WriteUsers": (list(dao.IAM_ACTIONS), {"Fn::GetAtt": ["UsersTable", "Arn"]}),
        "ReadUploads": (["s3:GetObject"], "arn:aws:s3:::${param:uploadBucket}/*"),
        "ReportFailedImports": (
            ["sqs:SendMessage"],
            {"Fn::GetAtt": ["FailedImportsQueue", "Arn"]},
        ),
    }
    [trigger] = function["events"]
    assert provider["s3"][trigger["s3"]["bucket"]]["name"] == "${param:uploadBucket}"
    assert function["destinations"]["onFailure"]["arn"] == {
        "Fn::GetAtt": ["FailedImportsQueue", "Arn"]
    }

    assert provider["environment"] == {
        "IDEMLOCK_TABLE": {"Ref": "IdemlockTable"},
        dao.TABLE_ENV: {"Ref": "UsersTable"},
        handler.KEY_ENV: "${param:importKey}",
    }
    assert config["params"]["default"]["importKey"] == handler.DEFAULT_KEY
    users_key = config["resources"]["Resources"]["UsersTable"]["Properties"]["KeySchema"]
    assert users_key == [{"AttributeName": "user_id", "KeyType": "HASH"}]


# -- the S3 -> SQS -> Lambda variant (template-sqs.yaml) -------------------------------------------


def sqs_message(message_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """An SQS record carrying ``body`` (an S3 notification, as S3 sends it to a queue)."""
    return sqs_record(json.dumps(body), message_id=message_id)


def test_behind_a_queue_each_upload_imports_once_and_failures_name_the_message(
    deployment: Deployment, imports: list[tuple[str, str]]
) -> None:
    """S3 -> SQS -> Lambda, the same handler: S3's test message is acknowledged, one
    notification S3 sent twice (two messages) imports once, under the same lock key as the direct
    wiring, and the malformed file is reported by its SQS message id; the redelivery of the batch
    imports nothing again and reports the malformed file again."""
    good = deployment.upload("incoming/new users (1).csv", USERS)
    bad = deployment.upload("bad.csv", "name,country,age\nDan,US,forty\n")
    event = {
        "Records": [
            sqs_message("test", S3_TEST_EVENT),
            sqs_message("m-1", good.event),
            sqs_message("m-2", good.event),
            sqs_message("m-3", bad.event),
        ]
    }

    outcome = handler.handler.process(event, LambdaContext())

    assert [r.status for r in outcome.records] == [
        RecordStatus.ACKNOWLEDGED,
        RecordStatus.COMPLETED,
        RecordStatus.DUPLICATE,
        RecordStatus.FAILED,
    ]
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "m-3"}]}
    lock = deployment.lock(good)  # keyed from the direct notification
    assert lock is not None
    assert lock.status is LockStatus.COMPLETED
    assert deployment.lock(bad) is None
    assert set(deployment.users()) == {"JP#Alice", "FR#Bob"}

    assert handler.handler(event, LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": "m-3"}]
    }
    assert imports == [
        (deployment.bucket, "incoming/new users (1).csv"),
        (deployment.bucket, "bad.csv"),
        (deployment.bucket, "bad.csv"),
    ]


def test_the_sqs_template_wires_bucket_queue_and_function() -> None:
    """template-sqs.yaml: the same handler and environment as template.yaml; the bucket notifies
    the queue (which only that bucket may send to), and the function consumes the queue,
    reporting item failures."""
    template = yaml.load((HERE / "template-sqs.yaml").read_text(), Loader=yaml.SafeLoader)
    resources = template["Resources"]
    function = resources["ImportFunction"]["Properties"]
    module, _, name = function["Handler"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is handler.handler
    assert function["Environment"]["Variables"] == {
        "IDEMLOCK_TABLE": {"Ref": "IdemlockTable"},
        dao.TABLE_ENV: {"Ref": "UsersTable"},
        handler.KEY_ENV: {"Ref": "ImportKey"},
    }
    [trigger] = function["Events"].values()
    assert trigger["Type"] == "SQS"
    assert trigger["Properties"]["Queue"] == {"Fn::GetAtt": ["UploadsQueue", "Arn"]}
    assert trigger["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    bucket = resources["UploadBucket"]
    [notification] = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Queue"] == {"Fn::GetAtt": ["UploadsQueue", "Arn"]}
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert bucket["DependsOn"] == "UploadsQueuePolicy"
    [statement] = resources["UploadsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${UploadBucketName}"
    }
