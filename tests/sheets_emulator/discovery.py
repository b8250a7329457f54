"""Shape checks against Google's discovery documents (sheets.v4.json, drive.v3.json).

The documents ship in the google-api-python-client wheel; they are the authority for field
names, types and enums. ``Discovery.check`` walks ``$ref``s and reports every unknown field,
wrong type or value outside an enum, with the location as Google words it
(``requests[0].add_sheet.properties``).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

# gspread's permissions.create sends this v2 field; Drive v3 ignores it.
IGNORED_FIELDS = {("Permission", "withLink")}

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


@cache
def document(api: str) -> dict:
    """The discovery document of ``sheets`` (v4), ``drive`` (v3) or ``drive2`` (v2, uploads)."""
    name = {"sheets": "sheets.v4.json", "drive": "drive.v3.json", "drive2": "drive.v2.json"}[api]
    files = resources.files("googleapiclient") / "discovery_cache" / "documents" / name
    return json.loads(files.read_text(encoding="utf-8"))


class Problem(str):
    """One mismatch between a body and its schema (a message Google could have sent), with
    the field it concerns (``data.values``; empty for query parameters)."""

    field: str

    def __new__(cls, message: str, field: str = "") -> Problem:
        self = super().__new__(cls, message)
        self.field = field
        return self

    def details(self) -> list[dict]:
        """The ``error.details`` Google adds to a 400: one BadRequest field violation."""
        violation = {"field": self.field} if self.field else {}
        violation["description"] = str(self)
        return [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                 "fieldViolations": [violation]}]


class Discovery:
    """Schemas and methods of one API."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.doc = document(api)
        self.schemas: dict = self.doc["schemas"]
        self.methods: dict[str, dict] = {}
        self._collect(self.doc, "")

    def _collect(self, node: dict, prefix: str) -> None:
        for name, method in node.get("methods", {}).items():
            self.methods[prefix + name] = method
        for name, sub in node.get("resources", {}).items():
            self._collect(sub, prefix + name + ".")

    def request_schema(self, method: str) -> str | None:
        return self.methods[method].get("request", {}).get("$ref")

    def response_schema(self, method: str) -> str | None:
        return self.methods[method].get("response", {}).get("$ref")

    def parameters(self, method: str) -> dict:
        params = dict(self.doc.get("parameters", {}))
        params.update(self.methods[method].get("parameters", {}))
        return params

    def check(self, value: Any, schema: str | dict, where: str = "") -> list[Problem]:
        """Every problem of ``value`` against the named schema (empty list when it fits)."""
        problems: list[Problem] = []
        node = {"$ref": schema} if isinstance(schema, str) else schema
        self._walk(value, node, where, problems, None)
        return problems

    def proto_name(self, node: dict) -> str:
        """How Google names a schema's type in errors (``google.protobuf.ListValue`` for a
        list of anything, the message's full name for a $ref)."""
        if "$ref" in node:
            package = {"sheets": "google.apps.sheets.v4", "drive": "google.apps.drive.v3",
                       "drive2": "google.apps.drive.v2"}
            return f"type.googleapis.com/{package[self.api]}.{node['$ref']}"
        kind = node.get("type")
        if kind == "array":
            items = node.get("items", {})
            if items.get("type") in ("any", None) and "$ref" not in items:
                return "type.googleapis.com/google.protobuf.ListValue"
            return self.proto_name(items)
        return {"string": "TYPE_STRING", "integer": "TYPE_INT32", "number": "TYPE_DOUBLE",
                "boolean": "TYPE_BOOL"}.get(kind or "", "type.googleapis.com/google.protobuf.Value")

    def _walk(self, value: Any, node: dict, where: str, out: list, owner: str | None) -> None:
        if value is None:
            return  # JSON null means absent
        if "$ref" in node:
            owner = node["$ref"]
            node = self.schemas[owner]
        kind = node.get("type")
        if kind == "object" or (kind is None and "properties" in node):
            if not isinstance(value, dict):
                name = self.proto_name({"$ref": owner}) if owner else "object"
                out.append(Problem(f"Invalid value at '{where}' ({name}), "
                                   f"{json.dumps(value)}", where))
                return
            props = node.get("properties", {})
            extra = node.get("additionalProperties")
            for key, item in value.items():
                if key in props:
                    sub = f"{where}.{snake(key)}" if where else snake(key)
                    self._walk(item, props[key], sub, out, owner)
                elif extra is not None:
                    self._walk(item, extra, f"{where}[{key}]", out, owner)
                elif (owner, key) not in IGNORED_FIELDS:
                    at = f" at '{where}'" if where else ""
                    out.append(Problem(f'Invalid JSON payload received. Unknown name "{key}"{at}: '
                                       "Cannot find field.", where))
            return
        if kind == "array":
            if not isinstance(value, list):
                out.append(Problem(f"Invalid value at '{where}' ({self.proto_name(node)}), "
                                   f"{json.dumps(value)}", where))
                return
            for i, item in enumerate(value):
                self._walk(item, node.get("items", {}), f"{where}[{i}]", out, owner)
            return
        if kind == "any" or kind is None:
            return
        if kind == "string":
            fmt = node.get("format")
            if fmt in ("int64", "uint64") and isinstance(value, int) and not isinstance(value, bool):
                return
            if not isinstance(value, str):
                out.append(Problem(f"Invalid value at '{where}' (TYPE_STRING), {json.dumps(value)}",
                                   where))
            elif "enum" in node and value not in node["enum"]:
                out.append(Problem(f"Invalid value at '{where}' ({owner}), \"{value}\"", where))
            return
        if kind == "integer":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or \
                (isinstance(value, float) and value.is_integer()) or \
                (isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None)
            if not ok:
                out.append(Problem(f"Invalid value at '{where}' (TYPE_INT32), {json.dumps(value)}",
                                   where))
            return
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                out.append(Problem(f"Invalid value at '{where}' (TYPE_DOUBLE), {json.dumps(value)}",
                                   where))
            return
        if kind == "boolean":
            if not isinstance(value, bool):
                out.append(Problem(f"Invalid value at '{where}' (TYPE_BOOL), {json.dumps(value)}",
                                   where))
            return

    def check_parameters(self, method: str, query: dict[str, list[str]],
                         path_params: set[str], ignore_unknown: bool = False) -> list[Problem]:
        """Unknown query parameters (unless ``ignore_unknown``) and values outside their enum."""
        params = self.parameters(method)
        problems: list[Problem] = []
        for name, values in query.items():
            spec = params.get(name)
            if ignore_unknown and spec is None:
                continue
            if spec is None or name in path_params:
                problems.append(Problem(
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query '
                    f"parameter. Field '{name}' could not be found in request message."))
                continue
            for v in values:
                if "enum" in spec and v not in spec["enum"]:
                    problems.append(Problem(f"Invalid value at '{snake(name)}', \"{v}\""))
                elif spec.get("type") == "boolean" and v.lower() not in ("true", "false"):
                    problems.append(Problem(f"Invalid value at '{snake(name)}' (TYPE_BOOL), \"{v}\""))
                elif spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", v):
                    problems.append(Problem(f"Invalid value at '{snake(name)}' (TYPE_INT32), \"{v}\""))
        return problems


@cache
def api(name: str) -> Discovery:
    """The shared checker for ``sheets`` or ``drive``."""
    return Discovery(name)
