"""YAML with CloudFormation's short-form tags, for the tests that read templates.

``examples/test_infrastructure.py`` checks the examples' templates with it, and
``tests/test_docs.py`` parses the docs' YAML blocks with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml


class CloudFormationLoader(yaml.SafeLoader):
    """A safe YAML loader that reads CloudFormation's short-form tags as their long form.

    ``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt X.Arn`` becomes ``{"Fn::GetAtt": ["X", "Arn"]}``
    and ``!Sub``, ``!Join`` and the other functions ``{"Fn::Sub": ...}``, ...: the form the checks
    read, whichever form a file is written in. Serverless Framework reads the same tags.
    """


def _long_form(name: str) -> Callable[[CloudFormationLoader, yaml.Node], dict[str, Any]]:
    """The constructor of one short-form tag: its argument, whatever its shape, under ``name``."""

    def construct(loader: CloudFormationLoader, node: yaml.Node) -> dict[str, Any]:
        argument: Any
        if isinstance(node, yaml.ScalarNode):
            argument = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                argument = argument.split(".", 1)  # !GetAtt Table.Arn: resource, attribute
        elif isinstance(node, yaml.SequenceNode):
            argument = loader.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)  # the only other kind of YAML node
            argument = loader.construct_mapping(node, deep=True)
        return {name: argument}

    return construct


for _tag, _name in {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        function: f"Fn::{function}"
        for function in (
            *("And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If"),
            *("ImportValue", "Join", "Not", "Or", "Select", "Split", "Sub", "Transform"),
        )
    },
}.items():
    CloudFormationLoader.add_constructor(f"!{_tag}", _long_form(_name))
