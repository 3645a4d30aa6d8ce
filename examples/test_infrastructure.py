"""Every example's infrastructure as code, checked without deploying it.

Each example ships a SAM template (``template.yaml``) and a Serverless Framework service
(``serverless.yml``). Both are parsed (CloudFormation's short-form tags included), reduced to one
:class:`Stack` each, and held to what idemlock needs and to least privilege:

- the lock table has key ``id`` (S, HASH), on-demand billing and TTL on ``expires_at_s``, and the
  function's ``IDEMLOCK_TABLE`` names it;
- on the lock table the function may do exactly :data:`idemlock.dynamodb.RUNTIME_ACTIONS`, and
  :data:`idemlock.dynamodb.BATCH_ACTIONS` too when its handler runs batches of records
  (``@idempotent_records`` or ``StreamDispatcher``: without them it would send one request per
  record);
- every permission names resources of the stack (a table, stream, queue, bucket or log group),
  never ``*``, and no action is a wildcard; every app table the environment names gets exactly
  the actions its code declares;
- the trigger is the example's (S3, DynamoDB stream, schedule, SQS, HTTP API), the batch ones
  report item failures, an HTTP API's route needs a JWT authorizer's token, and with its own role
  a SAM function can read its trigger and write its logs;
- the handler string names a callable in the code the stack deploys.

``cfn-lint`` then validates the SAM templates against the CloudFormation and SAM schemas it ships
(offline; the version is pinned, so its verdict is reproducible).
"""

from __future__ import annotations

import fnmatch
import importlib
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import idemlock
from idemlock import AttributeNames
from idemlock.dynamodb import BATCH_ACTIONS, RUNTIME_ACTIONS
from tests.cloudformation import CloudFormationLoader

EXAMPLES_DIR = Path(__file__).resolve().parent
TOOLS = ("sam", "serverless")
LOCK_TABLE_ENV = "IDEMLOCK_TABLE"


@dataclass(frozen=True)
class Example:
    """What one example's stack must declare beyond what every example shares."""

    trigger: str
    """The kind of trigger: ``s3``, ``dynamodb-stream``, ``schedule``, ``sqs`` or ``http-api``."""
    tables: Mapping[str, str]
    """Each environment variable naming an app table → the constant (``module.NAME``) listing
    the actions the example's code uses on that table."""
    schedule: str | None = None
    """The schedule expression of a scheduled example."""
    stream_view_type: str | None = None
    """What the stream of a stream example must carry."""
    batches: bool = False
    """Whether the handler runs batches of records (``@idempotent_records``,
    ``StreamDispatcher``), whose writes need :data:`BATCH_ACTIONS` besides the runtime ones."""

    @property
    def lock_table_actions(self) -> set[str]:
        """What the function may do on the lock table: exactly what its handler sends."""
        return {*RUNTIME_ACTIONS, *BATCH_ACTIONS} if self.batches else set(RUNTIME_ACTIONS)


EXAMPLES: Mapping[str, Example] = {
    "s3_csv_import": Example("s3", {"USERS_TABLE": "s3_csv_import.dao.IAM_ACTIONS"}, batches=True),
    "stream_audit": Example(
        "dynamodb-stream",
        {"AUDIT_TABLE": "stream_audit.handler.AUDIT_TABLE_ACTIONS"},
        stream_view_type="NEW_AND_OLD_IMAGES",  # the audit's MODIFY entries compare both images
        batches=True,
    ),
    "scheduled_job": Example(
        "schedule",
        {"REPORTS_TABLE": "scheduled_job.handler.REPORTS_TABLE_ACTIONS"},
        schedule="rate(1 hour)",
    ),
    "sqs_orders": Example(
        "sqs", {"CHARGES_TABLE": "sqs_orders.handler.CHARGES_TABLE_ACTIONS"}, batches=True
    ),
    "http_orders": Example(
        "http-api", {"ORDERS_TABLE": "http_orders.handler.ORDERS_TABLE_ACTIONS"}
    ),
}

VARIANTS: Mapping[str, tuple[str, Example]] = {
    # S3 -> SQS -> Lambda: the same code as s3_csv_import/template.yaml, behind a queue.
    "s3_csv_import/template-sqs.yaml": (
        "s3_csv_import",
        Example("sqs", {"USERS_TABLE": "s3_csv_import.dao.IAM_ACTIONS"}, batches=True),
    ),
}
"""Further SAM templates of an example (its code, another wiring), checked like the others."""

BATCH_TRIGGERS = frozenset({"dynamodb-stream", "sqs"})
"""Triggers with a partial batch response: they must report item failures."""

TRIGGER_ACTIONS: Mapping[str, frozenset[str]] = {
    "dynamodb-stream": frozenset(
        {
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        }
    ),
    "sqs": frozenset({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}),
}
"""What an event source mapping reads its source with: the function's role must allow it."""

TRIGGER_SOURCE_TYPES: Mapping[str, str] = {
    "s3": "AWS::S3::Bucket",
    "dynamodb-stream": "AWS::DynamoDB::Table",
    "sqs": "AWS::SQS::Queue",
    "http-api": "AWS::Serverless::HttpApi",  # the framework's provider.httpApi stands for one
}

NAME_PROPERTIES = ("TableName", "QueueName", "BucketName", "LogGroupName", "TopicName")
"""The properties that give a resource its physical name, which an ARN may spell out."""


# -- parsing ------------------------------------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML file read with :class:`CloudFormationLoader`; it must hold a mapping."""
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=CloudFormationLoader)
    assert isinstance(document, dict), f"{path}: not a YAML mapping"
    return document


# -- the stack, as either tool declares it ------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """One event source of the function."""

    kind: str
    """``s3``, ``dynamodb-stream``, ``schedule``, ``sqs``; else the tool's own name for it."""
    source: Any
    """The bucket, stream or queue (as written: a reference or a name), or the schedule."""
    reports_item_failures: bool = False
    authorizer: Any = None
    """HTTP API: the route's authorizer (Serverless: its settings; SAM: its name, or ``None`` for
    the API's default)."""


@dataclass
class Stack:
    """One example's stack as one tool declares it, reduced to what the checks read."""

    path: Path
    resources: dict[str, dict[str, Any]]
    """Logical ID → resource (``Type``, ``Properties``)."""
    handler: str
    code_dir: Path
    timeout: int
    environment: dict[str, Any]
    statements: list[dict[str, Any]]
    """Every IAM statement the function's role gets from this file."""
    triggers: list[Trigger]
    own_role: bool = False
    """SAM: the function has a role of the template, not one SAM generates."""
    unchecked_policies: list[Any] = field(default_factory=list)
    """Managed policies, SAM policy templates, outside roles: permissions the file does not show."""
    log_group: Any = None
    """SAM: the function's ``LoggingConfig.LogGroup``."""
    package_patterns: list[str] | None = None
    """Serverless: ``package.patterns``, evaluated in order; ``None``: everything is packaged."""


def sam_stack(example: str, filename: str = "template.yaml") -> Stack:
    """The stack of ``<example>/template.yaml`` (or another template of the example)."""
    path = EXAMPLES_DIR / example / filename
    template = load_yaml(path)
    resources: dict[str, dict[str, Any]] = template["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 1, f"{path}: expected one AWS::Serverless::Function"
    defaults: dict[str, Any] = template.get("Globals", {}).get("Function", {})
    function = {**defaults, **functions[0]["Properties"]}
    environment = {
        **defaults.get("Environment", {}).get("Variables", {}),
        **functions[0]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    stack = Stack(
        path=path,
        resources=resources,
        handler=function["Handler"],
        code_dir=(path.parent / function["CodeUri"]).resolve(),
        timeout=int(function.get("Timeout", 3)),  # SAM's default
        environment=environment,
        statements=[],
        triggers=[_sam_trigger(event) for event in function.get("Events", {}).values()],
        log_group=function.get("LoggingConfig", {}).get("LogGroup"),
    )
    if "Role" in function:
        role = _referenced(function["Role"])
        if role is None or resources.get(role, {}).get("Type") != "AWS::IAM::Role":
            stack.unchecked_policies.append(function["Role"])  # a role from elsewhere
        else:
            stack.own_role = True
            _add_role_policies(stack, role)
    else:
        for policy in _as_list(function.get("Policies", [])):
            if isinstance(policy, dict) and set(policy) == {"Statement"}:
                stack.statements.extend(_as_list(policy["Statement"]))
            else:
                stack.unchecked_policies.append(policy)
    return stack


def _sam_trigger(event: Mapping[str, Any]) -> Trigger:
    properties = event.get("Properties", {})
    reports = "ReportBatchItemFailures" in properties.get("FunctionResponseTypes", [])
    match event["Type"]:
        case "S3":
            return Trigger("s3", properties["Bucket"])
        case "DynamoDB":
            return Trigger("dynamodb-stream", properties["Stream"], reports)
        case "SQS":
            return Trigger("sqs", properties["Queue"], reports)
        case "Schedule":
            return Trigger("schedule", properties["Schedule"])
        case "HttpApi":
            route_auth = properties.get("Auth", {}).get("Authorizer")  # a name, or "NONE"
            return Trigger("http-api", properties.get("ApiId"), authorizer=route_auth)
        case other:
            return Trigger(str(other).lower(), properties)


def _add_role_policies(stack: Stack, role: str) -> None:
    """The statements of a role of the template: inline, and from policies attached to it."""
    properties = stack.resources[role]["Properties"]
    stack.unchecked_policies.extend(properties.get("ManagedPolicyArns", []))
    documents = [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
    for resource in stack.resources.values():
        attached = resource.get("Properties", {}).get("Roles", [])
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and any(
            _referenced(each) == role for each in attached
        ):
            documents.append(resource["Properties"]["PolicyDocument"])
    for document in documents:
        stack.statements.extend(_as_list(document["Statement"]))


def serverless_stack(example: str) -> Stack:
    """The stack of ``<example>/serverless.yml``."""
    path = EXAMPLES_DIR / example / "serverless.yml"
    config = load_yaml(path)
    provider: dict[str, Any] = config["provider"]
    resources: dict[str, dict[str, Any]] = dict(config.get("resources", {}).get("Resources", {}))
    # Buckets the framework creates from provider.s3 are resources of the stack too.
    for name, bucket in provider.get("s3", {}).items():
        resources[f"provider.s3.{name}"] = {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": bucket.get("name", name)},
        }
    # So is the HTTP API the framework creates from provider.httpApi, with its authorizers.
    if "httpApi" in provider:
        authorizers = provider["httpApi"].get("authorizers", {})
        resources["provider.httpApi"] = {
            "Type": "AWS::Serverless::HttpApi",
            "Properties": {
                "Auth": {
                    "Authorizers": {
                        name: settings
                        for name, settings in authorizers.items()
                        if settings.get("type") == "jwt"
                    }
                }
            },
        }
    functions: dict[str, dict[str, Any]] = config["functions"]
    assert len(functions) == 1, f"{path}: expected one function"
    [function] = functions.values()
    role: Any = provider.get("iam", {}).get("role", {})
    stack = Stack(
        path=path,
        resources=resources,
        handler=function["handler"],
        code_dir=path.parent,
        timeout=int(function.get("timeout", provider.get("timeout", 6))),  # the framework's default
        environment={**provider.get("environment", {}), **function.get("environment", {})},
        statements=[],
        triggers=[_serverless_trigger(event, resources) for event in function.get("events", [])],
        package_patterns=config.get("package", {}).get("patterns"),
    )
    if isinstance(role, dict):
        stack.statements.extend(role.get("statements", []))
        stack.unchecked_policies.extend(role.get("managedPolicies", []))
    else:
        stack.unchecked_policies.append(role)  # a role ARN or name from elsewhere
    if "iamRoleStatements" in provider:  # the framework's older spelling: still granted
        stack.statements.extend(provider["iamRoleStatements"])
    return stack


def _serverless_trigger(event: Mapping[str, Any], resources: Mapping[str, Any]) -> Trigger:
    [(kind, settings)] = event.items()
    options: Mapping[str, Any] = settings if isinstance(settings, dict) else {}
    reports = options.get("functionResponseType") == "ReportBatchItemFailures"
    match kind:
        case "s3":
            bucket = options.get("bucket", settings)
            found = f"provider.s3.{bucket}"  # a bucket configured under provider.s3
            return Trigger("s3", {"Ref": found} if found in resources else bucket)
        case "stream":
            arn = options.get("arn", settings)
            stream_type = options.get("type", "dynamodb" if ":dynamodb:" in str(arn) else None)
            return Trigger(f"{stream_type}-stream", arn, reports)
        case "sqs":
            return Trigger("sqs", options.get("arn", settings), reports)
        case "httpApi":
            authorizers = resources["provider.httpApi"]["Properties"]["Auth"]["Authorizers"]
            name = options.get("authorizer", {}).get("name")
            jwt = authorizers.get(name) if name else None
            return Trigger("http-api", {"Ref": "provider.httpApi"}, authorizer=jwt)
        case "schedule":
            rate = options.get("rate", settings)
            if isinstance(rate, list) and len(rate) == 1:  # the framework takes a list of rates
                rate = rate[0]
            return Trigger("schedule", rate)
        case other:
            return Trigger(other, settings)


STACK_LOADERS: Mapping[str, Callable[[str], Stack]] = {
    "sam": sam_stack,
    "serverless": serverless_stack,
}


@pytest.fixture(
    params=[(example, tool) for example in EXAMPLES for tool in TOOLS] + list(VARIANTS),
    ids=[f"{example}-{tool}" for example in EXAMPLES for tool in TOOLS] + list(VARIANTS),
)
def stack(request: pytest.FixtureRequest) -> tuple[Example, Stack]:
    """Each example's stack as each tool declares it, and each variant's, with what that
    example must declare."""
    if isinstance(request.param, str):
        folder, example = VARIANTS[request.param]
        return example, sam_stack(folder, request.param.rsplit("/", 1)[1])
    example_name, tool = request.param
    return EXAMPLES[example_name], STACK_LOADERS[tool](example_name)


# -- reading references and permissions ---------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    """IAM and SAM accept one item or a list of them."""
    return value if isinstance(value, list) else [value]


def _referenced(value: Any) -> str | None:
    """The logical ID in ``{"Ref": X}`` or ``{"Fn::GetAtt": [X, attribute]}``."""
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Ref" and isinstance(argument, str):
            return argument
        if function == "Fn::GetAtt" and isinstance(argument, list) and argument:
            return str(argument[0])
    return None


def _texts(value: Any) -> Iterator[str]:
    """The literal text of an IAM resource: a string, a ``Fn::Sub`` pattern, ``Fn::Join`` parts."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Fn::Sub":
            yield argument if isinstance(argument, str) else argument[0]
        elif function == "Fn::Join":
            separator, parts = argument
            yield separator.join(part if isinstance(part, str) else "${}" for part in parts)
            for part in parts:
                yield from _texts(part)


def _physical_name(resource: Mapping[str, Any]) -> str | None:
    """A resource's name as an ARN spells it: literal, ``${Parameter}`` or a ``Fn::Sub`` pattern."""
    properties = resource.get("Properties", {})
    for name in NAME_PROPERTIES:
        value = properties.get(name)
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            parameter = _referenced(value)
            if "Ref" in value and parameter is not None:
                return f"${{{parameter}}}"
            if isinstance(value.get("Fn::Sub"), str):
                return str(value["Fn::Sub"])
    return None


def targets(resource: Any, stack: Stack) -> set[str]:
    """The logical IDs of the stack's resources that an IAM ``Resource`` names.

    By reference (``Ref``, ``Fn::GetAtt``, ``${X}`` or ``${X.Arn}`` in a ``Fn::Sub``), or by
    physical name between ARN delimiters: a bucket whose name comes from a parameter has to be
    named that way, since referring to it would make it and the role depend on each other.
    """
    found = {_referenced(resource)} & stack.resources.keys()
    for text in _texts(resource):
        variables = {v.split(".", 1)[0] for v in re.findall(r"\$\{([^}]+)\}", text)}
        found |= variables & stack.resources.keys()
        for logical_id, each in stack.resources.items():
            name = _physical_name(each)
            if name and re.search(rf"(?:^|[:/]){re.escape(name)}(?:$|[:/])", text):
                found.add(logical_id)
    return {str(logical_id) for logical_id in found}


def _wildcards(resource: Any) -> list[str]:
    """The texts of ``resource`` with a ``*`` beyond a final ``/*`` (objects) or ``:*`` (streams
    of a log group)."""
    return [
        text
        for text in _texts(resource)
        if "*" in re.sub(r"\$\{[^}]*\}", "", text).removesuffix("/*").removesuffix(":*")
    ]


def actions_on(logical_id: str, stack: Stack) -> set[str]:
    """Every action the role allows on the resource ``logical_id``."""
    allowed: set[str] = set()
    for statement in stack.statements:
        if statement.get("Effect") != "Allow":
            continue
        if any(logical_id in targets(r, stack) for r in _as_list(statement.get("Resource", []))):
            allowed.update(_as_list(statement.get("Action", [])))
    return allowed


def table_named_by(variable: str, stack: Stack) -> str:
    """The logical ID of the DynamoDB table an environment variable names."""
    value = stack.environment.get(variable)
    assert value is not None, f"{stack.path}: the function's environment lacks {variable}"
    logical_id = _referenced(value)
    if logical_id is None:  # a name, e.g. ${self:custom.table}: the table with that name
        named = [k for k, r in stack.resources.items() if _physical_name(r) == value]
        logical_id = named[0] if len(named) == 1 else None
    assert logical_id in stack.resources, f"{stack.path}: {variable}={value!r} names no resource"
    assert stack.resources[logical_id]["Type"] == "AWS::DynamoDB::Table", (
        f"{stack.path}: {variable} names {logical_id}, which is not a DynamoDB table"
    )
    return logical_id


def constant(dotted: str, code_dir: Path) -> Any:
    """The value of ``module.NAME`` in the example's code."""
    module, name = dotted.rsplit(".", 1)
    sys.path.insert(0, str(code_dir))
    try:
        return getattr(importlib.import_module(module), name)
    finally:
        sys.path.remove(str(code_dir))


# -- the checks ---------------------------------------------------------------------------------


WORKERS = {"sqs_worker"}
"""Examples that are not Lambda functions (a long-lived consumer): no stack to check."""


def test_every_example_is_checked_and_has_both_stacks() -> None:
    """Each folder of examples/ is an example this file checks (with its trigger), and each
    ships a SAM template and a Serverless Framework service."""
    folders = {
        path.name
        for path in EXAMPLES_DIR.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_"))
    }
    assert folders == set(EXAMPLES) | WORKERS
    for example in EXAMPLES:
        assert (EXAMPLES_DIR / example / "template.yaml").is_file()
        assert (EXAMPLES_DIR / example / "serverless.yml").is_file()


def test_lock_table_is_idemlocks_table(stack: tuple[Example, Stack]) -> None:
    """IDEMLOCK_TABLE names a table of the stack with idemlock's key (``id``, S, HASH), on-demand
    billing and TTL on ``expires_at_s``."""
    _, declared = stack
    names = AttributeNames()
    table = declared.resources[table_named_by(LOCK_TABLE_ENV, declared)]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": names.key, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": names.key, "AttributeType": "S"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {
        "AttributeName": names.expires_at_s,
        "Enabled": True,
    }


BATCH_HANDLERS = re.compile(r"\b(idempotent_records|StreamDispatcher)\b")
"""What a handler module runs batches of records with."""


def test_lock_table_permissions_are_exactly_what_the_handler_sends(
    stack: tuple[Example, Stack],
) -> None:
    """The role allows exactly idemlock.dynamodb.RUNTIME_ACTIONS on the lock table, by its ARN,
    and BATCH_ACTIONS too for an example whose handler module runs batches of records: the
    example is declared a batch exactly when its code is one."""
    example, declared = stack
    module = declared.handler.replace("/", ".").rsplit(".", 1)[0]
    source = (declared.code_dir / Path(*module.split("."))).with_suffix(".py").read_text()
    assert example.batches == bool(BATCH_HANDLERS.search(source)), declared.handler
    lock_table = table_named_by(LOCK_TABLE_ENV, declared)
    assert actions_on(lock_table, declared) == example.lock_table_actions


def test_every_permission_is_scoped_to_resources_of_the_stack(
    stack: tuple[Example, Stack],
) -> None:
    """Every statement is visible in the file (no managed policies, SAM policy templates or
    outside roles), names resources of the stack and no ``*``, and lists actions without
    wildcards; a SAM function of a pull trigger has its own role, since SAM's generated one
    would get an AWS managed policy on ``*``, and that role can write the function's logs."""
    example, declared = stack
    assert declared.unchecked_policies == []
    assert declared.statements, f"{declared.path}: no permissions at all"
    for statement in declared.statements:
        assert not {"NotAction", "NotResource", "NotPrincipal"} & statement.keys(), statement
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{declared.path}: wildcard action {action!r}"
        for resource in _as_list(statement["Resource"]):
            assert targets(resource, declared), f"{declared.path}: {resource!r} is unscoped"
            assert not _wildcards(resource), f"{declared.path}: {resource!r} has a wildcard"
    if declared.path.name == "template.yaml" and example.trigger in BATCH_TRIGGERS:
        assert declared.own_role, f"{declared.path}: give the function its own Role"
    if declared.own_role:
        log_group = _referenced(declared.log_group)
        assert log_group is not None, f"{declared.path}: set LoggingConfig.LogGroup"
        assert declared.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
        assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= actions_on(log_group, declared)


def test_every_sam_function_has_its_own_role() -> None:
    """No SAM template leaves the role to SAM: its generated role carries AWS managed policies
    (logs on every group, every stream or queue of the account) beside the file's statements."""
    for example in EXAMPLES:
        declared = sam_stack(example)
        assert declared.own_role, f"{declared.path}: give the function its own Role"


def test_app_tables_get_exactly_the_actions_their_code_declares(
    stack: tuple[Example, Stack],
) -> None:
    """Every table the environment names is the lock table or an app table whose code lists
    the actions it uses, and the role allows exactly those on it."""
    example, declared = stack
    named = {
        variable
        for variable, value in declared.environment.items()
        if declared.resources.get(_referenced(value) or "", {}).get("Type")
        == "AWS::DynamoDB::Table"
    }
    assert named == {LOCK_TABLE_ENV, *example.tables}
    for variable, declaration in example.tables.items():
        table = table_named_by(variable, declared)
        assert actions_on(table, declared) == set(constant(declaration, declared.code_dir))


def test_trigger_is_the_examples_and_batches_report_item_failures(
    stack: tuple[Example, Stack],
) -> None:
    """One trigger, of the example's kind, on a resource of the stack (or the example's
    schedule); stream and SQS triggers report item failures; an SQS queue hides a message longer
    than the function runs (Lambda refuses the mapping otherwise) and has a dead-letter queue;
    with its own role, the function can read its stream or queue."""
    example, declared = stack
    [trigger] = declared.triggers
    assert trigger.kind == example.trigger
    if trigger.kind == "schedule":
        assert trigger.source == example.schedule
        return
    source = _referenced(trigger.source)
    assert source in declared.resources, f"{declared.path}: {trigger.source!r} is not in the stack"
    resource = declared.resources[source]
    assert resource["Type"] == TRIGGER_SOURCE_TYPES[trigger.kind]
    assert trigger.reports_item_failures == (trigger.kind in BATCH_TRIGGERS)
    if trigger.kind == "dynamodb-stream":
        assert trigger.source == {"Fn::GetAtt": [source, "StreamArn"]}
        view = resource["Properties"]["StreamSpecification"]["StreamViewType"]
        assert view == example.stream_view_type
    if trigger.kind == "http-api":
        assert _jwt_authorizer(trigger, resource), f"{declared.path}: the route needs a JWT"
    if trigger.kind == "sqs":
        queue = resource["Properties"]
        assert int(queue.get("VisibilityTimeout", 30)) >= declared.timeout
        assert "RedrivePolicy" in queue
    if declared.own_role and trigger.kind in TRIGGER_ACTIONS:
        assert TRIGGER_ACTIONS[trigger.kind] <= actions_on(source, declared)


def _jwt_authorizer(trigger: Trigger, api: Mapping[str, Any]) -> Any:
    """The settings of the JWT authorizer the route runs; ``None`` if it runs none."""
    if isinstance(trigger.authorizer, Mapping):
        return trigger.authorizer  # Serverless: the route names one of provider.httpApi's
    auth = api["Properties"].get("Auth", {})
    name = trigger.authorizer or auth.get("DefaultAuthorizer")  # SAM: the route's, or default
    return auth.get("Authorizers", {}).get(name, {}).get("JwtConfiguration")


def test_handler_names_a_callable_of_the_deployed_code(stack: tuple[Example, Stack]) -> None:
    """The handler string (``package.module.function``) names a callable of the code the stack
    deploys, with idemlock among that code's requirements."""
    _, declared = stack
    module, function = declared.handler.replace("/", ".").rsplit(".", 1)
    assert callable(constant(f"{module}.{function}", declared.code_dir))
    module_file = Path(*module.split(".")).with_suffix(".py")
    assert (declared.code_dir / module_file).is_file()
    assert _packaged(module_file.as_posix(), declared.package_patterns)
    requirements = (declared.code_dir / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^idemlock\b", requirements, flags=re.MULTILINE)


LAMBDA_MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
"""Lambda's architecture names → the machine names in manylinux wheel tags."""


def _pip_options(arguments: list[str]) -> dict[str, str]:
    """``pipCmdExtraArgs`` (each ``--option value`` or ``--option=value``) as a mapping."""
    options = {}
    for argument in arguments:
        name, _, value = argument.replace("=", " ", 1).partition(" ")
        options[name] = value.strip()
    return options


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_serverless_packages_wheels_for_the_functions_platform(example: str) -> None:
    """serverless-python-requirements installs requirements.txt as binary wheels of the platform
    the function declares (its architecture and Python), not the deploying machine's, and finds
    idemlock, which no package index has, in the folder the README's steps build its wheel into;
    requirements.txt pins idemlock to this checkout's version."""
    config = load_yaml(EXAMPLES_DIR / example / "serverless.yml")
    assert "serverless-python-requirements" in config["plugins"]
    settings = config["custom"]["pythonRequirements"]
    architecture = config["provider"]["architecture"]
    python = config["provider"]["runtime"].removeprefix("python")
    assert settings["dockerizePip"] is False  # the platform comes from pip's options instead
    options = _pip_options(settings["pipCmdExtraArgs"])
    assert options["--platform"] == f"manylinux2014_{LAMBDA_MACHINES[architecture]}"
    assert options["--python-version"] == python
    assert options["--implementation"] == "cp"
    assert options["--only-binary"] == ":all:"
    assert options["--find-links"] == "wheels"
    assert settings["useStaticCache"] is False  # a rebuilt wheel keeps its version
    requirements = (EXAMPLES_DIR / example / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(rf"^idemlock=={re.escape(idemlock.__version__)}$", requirements, re.M)


def _packaged(path: str, patterns: list[str] | None) -> bool:
    """Whether the framework's ``package.patterns`` (the last match decides) include ``path``."""
    included = True
    for pattern in patterns or []:
        excluded = pattern.startswith("!")
        if fnmatch.fnmatchcase(path, pattern.removeprefix("!")):
            included = not excluded
    return included


_CFN_LINT = "from cfnlint.runner import main; main()"
"""cfn-lint's command, in this interpreter (where the dev extra installs it)."""


@cache
def _cfn_lint() -> tuple[int, str, str]:
    """cfn-lint run once over every example's SAM template: exit status, output, errors."""
    templates = [str(EXAMPLES_DIR / example / "template.yaml") for example in EXAMPLES]
    templates += [str(EXAMPLES_DIR / variant) for variant in VARIANTS]
    done = subprocess.run(
        [sys.executable, "-c", _CFN_LINT, "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "template", [f"{example}/template.yaml" for example in EXAMPLES] + list(VARIANTS)
)
def test_sam_template_passes_cfn_lint(template: str) -> None:
    """cfn-lint finds no error or warning in the template (the CloudFormation resources against
    their schemas, the SAM function against SAM's)."""
    status, output, errors = _cfn_lint()
    assert status & 1 == 0, f"cfn-lint failed to run: {errors}"  # 1: cfn-lint itself crashed
    path = str(EXAMPLES_DIR / template)
    assert [line for line in output.splitlines() if line.startswith(f"{path}:")] == []
