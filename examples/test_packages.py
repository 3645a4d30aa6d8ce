"""Every example's deployment package, built from this checkout, runs its handler from the package.

``tools.package_example`` builds each example into a temporary folder, laid out as ``sam build``
lays it out (idemlock from a wheel of this checkout, the rest of ``requirements.txt`` from the
package index, for this host's platform so it can run here). The handler then runs in a fresh
interpreter whose path is the package and the standard library only (``-I -S``: no site-packages,
no checkout, no ``PYTHONPATH``), with Lambda's environment variables and a context whose deadline
is real, against DynamoDB Local (and moto's S3 server for the S3 example). A file the package
lacks is an import error there, and fails the test.

The same event is then delivered again: the duplicate replays the first result without a new
claim (the lock items are unchanged) and without touching the app's tables again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from idemlock import DynamoDBStore, LockStatus
from tests.aws import REGION, fresh_table, make_client
from tests.delivered_events import s3_record, sqs_record
from tests.http_events import as_caller, http_event
from tests.sources_helpers import load_event
from tools.build_layer import LAYER_ROOT, build_layer
from tools.lambda_packaging import Platform, install
from tools.package_example import EXAMPLES_DIR, package_example

RUN_TIMEOUT_S = 120
"""A guard against a hung handler, not an expectation of speed."""

RUNNER = """
import importlib, json, os, sys, time, uuid

path, handler_name, timeout_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
sys.path[:0] = path.split(os.pathsep)  # /var/task first, then /opt/python, as on Lambda


class Context:
    '''What Lambda passes as the context: the deadline is the function's timeout from now.'''

    def __init__(self):
        self.deadline_ms = int(time.time() * 1000 + timeout_s * 1000)
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:x"
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]

    def get_remaining_time_in_millis(self):
        return max(0, self.deadline_ms - int(time.time() * 1000))


module_name, _, function = handler_name.rpartition(".")
handler = getattr(importlib.import_module(module_name), function)
result = handler(json.load(sys.stdin), Context())
loaded = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
json.dump({"result": result, "loaded_from": loaded}, sys.stdout)
"""
"""The Lambda runtime's part: put the code on the path, import the handler, call it once."""


@dataclass(frozen=True)
class Scenario:
    """What one example needs to run, and what one delivery must leave behind."""

    tables: dict[str, list[str]]
    """Each app table's environment variable → its key attributes (hash, then range)."""
    event: Callable[[Deployment], dict[str, Any]]
    items: int
    """How many items the delivery writes to the app tables."""
    environment: dict[str, str] = field(default_factory=dict)
    replayed: Callable[[Any], Any] = lambda result: result
    """What the redelivery answers, given the first answer (an HTTP replay is marked)."""


@dataclass
class Deployment:
    """One example's tables (and bucket) on the local servers, and its Lambda environment."""

    dynamodb: Any
    locks: DynamoDBStore
    tables: dict[str, str]
    environment: dict[str, str]
    s3_endpoint: str

    def lock_items(self) -> list[dict[str, Any]]:
        """The lock table's items, raw, by key."""
        items = self.dynamodb.scan(TableName=self.locks.table_name, ConsistentRead=True)["Items"]
        return sorted(items, key=lambda item: item["id"]["S"])

    def app_items(self) -> list[dict[str, Any]]:
        """Every item of the app's tables."""
        return [
            item
            for table in self.tables.values()
            for item in self.dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
        ]


def _csv_upload(deployment: Deployment) -> dict[str, Any]:
    """users.csv put to a fresh versioned bucket on moto's server; S3's notification of it."""
    import boto3  # noqa: PLC0415

    s3 = boto3.client(
        "s3",
        endpoint_url=deployment.s3_endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"uploads-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    body = b"name,country,age\nAlice,JP,30\nBob,FR,41\n"
    put = s3.put_object(Bucket=bucket, Key="users.csv", Body=body)
    record = s3_record(
        "users.csv", version_id=put["VersionId"], etag=put["ETag"].strip('"'), size=len(body)
    )
    record["s3"]["bucket"] |= {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    return {"Records": [record]}


SCENARIOS: dict[str, Scenario] = {
    "s3_csv_import": Scenario(
        {"USERS_TABLE": ["user_id"]},
        _csv_upload,
        items=2,
        environment={"IMPORT_KEY": "object_version"},
    ),
    "stream_audit": Scenario(
        {"AUDIT_TABLE": ["entity", "audit_id"]},
        lambda _: load_event("dynamodb-stream"),  # INSERT, MODIFY, REMOVE of one item
        items=3,
    ),
    "scheduled_job": Scenario(
        {"REPORTS_TABLE": ["report_id"]}, lambda _: load_event("eventbridge-scheduled"), items=1
    ),
    "sqs_orders": Scenario(
        {"CHARGES_TABLE": ["order_id"]},
        lambda _: {"Records": [sqs_record(json.dumps({"order_id": "o-1", "amount": 1250}))]},
        items=1,
    ),
    "http_orders": Scenario(
        {"ORDERS_TABLE": ["order_id"]},
        lambda _: _order_post(),
        items=1,
        replayed=lambda result: {
            **result,
            "headers": {**result["headers"], "Idempotent-Replayed": "true"},
        },
    ),
}


def _order_post() -> dict[str, Any]:
    """POST /orders through an HTTP API with a JWT authorizer (aws-lambda-go's sample event)."""
    event = as_caller(
        http_event("http-api", body='{"item": "book", "quantity": 2}', path="/orders"),
        "http-api",
        "alice",
    )
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /orders"
    return event


def test_every_example_has_a_scenario() -> None:
    """A new example cannot go without its package being built and run here."""
    examples = {path.parent.name for path in EXAMPLES_DIR.glob("*/requirements.txt")}
    assert examples == set(SCENARIOS)


# -- building ------------------------------------------------------------------------------------


def template_setting(function_dir: Path, name: str) -> str:
    """A property of the function in the built template (``Handler``, ``Timeout``)."""
    text = (function_dir.parent / "template.yaml").read_text(encoding="utf-8")
    found = re.search(rf"^\s+{name}:\s*(\S+)\s*$", text, flags=re.MULTILINE)
    assert found, f"no {name} in the built template"
    return found[1]


# -- running -------------------------------------------------------------------------------------


@pytest.fixture
def deploy(dynamodb_local: str, s3_endpoint: str) -> Callable[[str], Deployment]:
    """Make an example's tables on DynamoDB Local, and the environment Lambda would set."""

    def make(example: str) -> Deployment:
        scenario = SCENARIOS[example]
        client = make_client(dynamodb_local)
        locks = fresh_table(dynamodb_local)
        tables = {}
        for variable, keys in scenario.tables.items():
            tables[variable] = f"{example}-{uuid.uuid4().hex[:12]}"
            client.create_table(
                TableName=tables[variable],
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                KeySchema=[
                    {"AttributeName": k, "KeyType": kind}
                    for k, kind in zip(keys, ("HASH", "RANGE"), strict=False)
                ],
            )
        environment = {
            "IDEMLOCK_TABLE": locks.table_name,
            **tables,
            **scenario.environment,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local,
            "AWS_ENDPOINT_URL_S3": s3_endpoint,
        }
        return Deployment(client, locks, tables, environment, s3_endpoint)

    return make


def lambda_environment(function_dir: Path, name: str, extra: dict[str, str]) -> dict[str, str]:
    """The variables Lambda's Python runtime sets, and the function's own (nothing inherited)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin/:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(function_dir),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": template_setting(function_dir, "Handler"),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/28/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
        # No developer configuration can leak in: the run never reaches a real account.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **extra,
    }


def invoke(
    path: list[Path], environment: dict[str, str], event: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """One invocation in a fresh interpreter whose path is ``path`` and the standard library."""
    function_dir = path[0]
    return subprocess.run(
        [
            sys.executable,
            "-I",  # no PYTHON* variables, no script or working folder on the path
            "-S",  # no site-packages: nothing the checkout's virtualenv has installed
            "-c",
            RUNNER,
            os.pathsep.join(map(str, path)),
            template_setting(function_dir, "Handler"),
            template_setting(function_dir, "Timeout"),
        ],
        input=json.dumps(event),
        env=environment,
        cwd=function_dir,  # Lambda's working folder is the task root
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def invoke_ok(path: list[Path], environment: dict[str, str], event: dict[str, Any]) -> Any:
    """The handler's response; every module it loaded came from ``path`` or the stdlib."""
    done = invoke(path, environment, event)
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    allowed = (
        *map(str, path),
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["platstdlib"],
    )
    strays = [name for name in output["loaded_from"] if not name.startswith(allowed)]
    assert not strays, f"modules from outside the package: {strays}"
    return output["result"]


def run_twice(deployment: Deployment, path: list[Path], example: str) -> None:
    """A delivery completes its keys and writes its items; its redelivery replays the result
    and changes nothing."""
    scenario = SCENARIOS[example]
    environment = lambda_environment(path[0], example, deployment.environment)
    event = scenario.event(deployment)

    first = invoke_ok(path, environment, event)

    locks = deployment.lock_items()
    assert locks, "no key was claimed"
    assert {item["status"]["S"] for item in locks} == {LockStatus.COMPLETED.value}
    items = deployment.app_items()
    assert len(items) == scenario.items

    assert invoke_ok(path, environment, event) == scenario.replayed(first)
    assert deployment.lock_items() == locks  # same owners and fences: nothing claimed again
    assert deployment.app_items() == items


@pytest.mark.slow  # builds a package with pip: tens of seconds
@pytest.mark.parametrize("example", sorted(SCENARIOS))
def test_the_package_runs_its_handler(
    example: str, wheel: Path, tmp_path: Path, deploy: Callable[[str], Deployment]
) -> None:
    """The bundled package (idemlock and boto3 inside) runs its handler on its own."""
    function_dir = package_example(example, tmp_path / "build", Platform.host(), wheel=wheel)

    assert (function_dir / "idemlock" / "__init__.py").is_file()
    assert not list(function_dir.rglob("test_*.py")), "tests are not deployed"
    run_twice(deploy(example), [function_dir], example)


@pytest.fixture(scope="module")
def layer(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer for this host, extracted as Lambda extracts it into /opt."""
    built = tmp_path_factory.mktemp("layer")
    with zipfile.ZipFile(build_layer(wheel, Platform.host(), built)) as archive:
        archive.extractall(built / "opt")
    return built / "opt" / LAYER_ROOT


@pytest.fixture(scope="module")
def runtime_boto3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """boto3 and botocore, standing for the ones every Lambda Python runtime ships."""
    site = tmp_path_factory.mktemp("runtime")
    install(["boto3"], site, Platform.host())
    return site


@pytest.mark.slow  # builds a package with pip: tens of seconds
def test_a_package_for_the_layer_runs_with_the_layer(
    wheel: Path,
    layer: Path,
    runtime_boto3: Path,
    tmp_path: Path,
    deploy: Callable[[str], Deployment],
) -> None:
    """Built with ``--use-layer``, the package holds no idemlock; with the layer and the
    runtime's boto3 on the path, as on Lambda, the handler runs the same."""
    function_dir = package_example(
        "sqs_orders", tmp_path / "build", Platform.host(), wheel=wheel, use_layer=True
    )

    assert not (function_dir / "idemlock").exists()
    run_twice(deploy("sqs_orders"), [function_dir, layer, runtime_boto3], "sqs_orders")


@pytest.fixture(scope="module")
def sqs_orders_package(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sqs_orders' bundled package, built once; tests that break it work on a copy."""
    built = tmp_path_factory.mktemp("sqs_orders") / "build"
    return package_example("sqs_orders", built, Platform.host(), wheel=wheel)


@pytest.mark.slow  # builds a package with pip: tens of seconds
@pytest.mark.parametrize(
    "missing",
    [
        "sqs_orders/handler.py",  # the example's own code
        "idemlock/batch.py",  # idemlock, imported by idempotent_records when the handler runs
        "boto3",  # a dependency
    ],
)
def test_a_file_missing_from_the_package_fails_the_run(
    missing: str,
    sqs_orders_package: Path,
    tmp_path: Path,
    deploy: Callable[[str], Deployment],
) -> None:
    """The run finds only what the package holds: take a file out, and the invocation fails."""
    build = tmp_path / "build"
    shutil.copytree(sqs_orders_package.parent, build)
    function_dir = build / sqs_orders_package.name
    removed = function_dir / missing
    if removed.is_dir():
        shutil.rmtree(removed)
    else:
        removed.unlink()
    deployment = deploy("sqs_orders")

    done = invoke(
        [function_dir],
        lambda_environment(function_dir, "sqs_orders", deployment.environment),
        SCENARIOS["sqs_orders"].event(deployment),
    )

    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr, done.stderr


def test_the_runner_refuses_modules_from_outside_the_package(tmp_path: Path) -> None:
    """The path check catches a module loaded from elsewhere than the package and stdlib."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stray.py").write_text("")
    task = tmp_path / "task"
    (task / "app").mkdir(parents=True)
    (task / "app" / "__init__.py").write_text(
        f"import sys\nsys.path.append({str(outside)!r})\nimport stray\n"
        "def handler(event, context):\n    return event\n"
    )
    (tmp_path / "template.yaml").write_text("      Handler: app.handler\n      Timeout: 3\n")
    task.rename(tmp_path / "Function")
    function_dir = tmp_path / "Function"

    with pytest.raises(AssertionError, match="modules from outside the package"):
        invoke_ok([function_dir], lambda_environment(function_dir, "app", {}), {"a": 1})
