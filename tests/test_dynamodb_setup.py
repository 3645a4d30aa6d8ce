"""A store set up without a region, without credentials or with a profile that does not exist:
an :class:`AWSSetupError` naming the library's own fix, never botocore's raw error."""

from __future__ import annotations

from pathlib import Path

import pytest

from idemlock import DynamoDBStore
from idemlock.errors import AWSSetupError, ConfigurationError


@pytest.fixture
def no_aws_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS variable, and configuration files that do not exist."""
    for variable in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_aws_configuration")
@pytest.mark.parametrize("aws_region", [None, ""])
def test_no_region_is_a_configuration_error_naming_the_fix(
    aws_region: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No region anywhere (or an empty AWS_REGION): AWSSetupError (a ConfigurationError)
    naming AWS_REGION and region_name, not a command-line flag."""
    if aws_region is not None:
        monkeypatch.setenv("AWS_REGION", aws_region)
    with pytest.raises(AWSSetupError) as raised:
        _ = DynamoDBStore("locks").client

    assert isinstance(raised.value, ConfigurationError)
    assert raised.value.setting == "region"
    message = str(raised.value)
    assert "AWS_REGION" in message
    assert "region_name=" in message
    assert "--" not in message


@pytest.mark.usefixtures("no_aws_configuration")
def test_an_unknown_profile_names_it_and_the_fix() -> None:
    """profile_name= a profile the configuration does not have: AWSSetupError naming it."""
    with pytest.raises(AWSSetupError) as raised:
        _ = DynamoDBStore("locks", profile_name="prod", region_name="eu-west-1").client

    assert raised.value.setting == "profile"
    assert "'prod'" in str(raised.value)
    assert "profile_name=" in str(raised.value)


@pytest.mark.usefixtures("no_aws_configuration")
def test_no_credentials_names_the_library_fix_not_a_flag(dynamodb_local: str) -> None:
    """No credentials: the first call raises AWSSetupError naming AWS_PROFILE, profile_name=
    and the key variables; never the command's --profile flag."""
    store = DynamoDBStore("locks", region_name="us-east-1", endpoint_url=dynamodb_local)

    with pytest.raises(AWSSetupError) as raised:
        store.get("orders#1")

    assert raised.value.setting == "credentials"
    message = str(raised.value)
    assert "no AWS credentials found" in message
    assert "profile_name=" in message
    assert "AWS_ACCESS_KEY_ID" in message
    assert "--profile" not in message
