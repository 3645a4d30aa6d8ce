"""CloudFormation templates: the table with a managed policy, or (SAM) with a function."""

from __future__ import annotations

from idemlock.cli.templates.spec import Spec, header, statement, table_resource
from idemlock.cli.templates.yaml_emitter import to_yaml


def cloudformation(spec: Spec) -> str:
    """A CloudFormation template: the table and a managed policy to attach to functions."""
    document = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "idemlock lock table and the policy its functions need",
        "Resources": {
            "IdemlockTable": table_resource(spec),
            "IdemlockPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "Description": "What idemlock's functions do on the lock table",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement(spec)]},
                },
            },
        },
        "Outputs": {
            "LockTableName": {"Value": {"Ref": "IdemlockTable"}},
            "LockTablePolicyArn": {"Value": {"Ref": "IdemlockPolicy"}},
        },
    }
    return header(spec) + to_yaml(document)


def sam(spec: Spec) -> str:
    """A SAM template: the table, and a function with the statement and IDEMLOCK_TABLE."""
    document = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": "idemlock lock table and a function using it",
        "Resources": {
            "IdemlockTable": table_resource(spec),
            "HandlerFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "src/",
                    "Handler": "app.handler",
                    "Runtime": "python3.12",
                    "Timeout": 60,
                    "Environment": {"Variables": {"IDEMLOCK_TABLE": {"Ref": "IdemlockTable"}}},
                    "Policies": [{"Statement": [statement(spec)]}],
                },
            },
        },
    }
    return header(spec) + to_yaml(document)
