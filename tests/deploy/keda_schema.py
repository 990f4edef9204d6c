"""Make the strict JSON schemas in schemas/ from KEDA's CustomResourceDefinitions.

KEDA's ScaledObject and TriggerAuthentication are CRDs: kubernetes-validate has no
schema for them. Their CRDs carry an OpenAPI v3 schema; this keeps the served
version's `spec` (and the top-level fields), drops descriptions and `status`, and
closes every object that lists its properties (`additionalProperties: false`), as
the API server's strict field validation rejects unknown fields. CEL rules
(`x-kubernetes-validations`) are not JSON Schema and are not checked.

    python -m tests.deploy.keda_schema keda.sh_scaledobjects.yaml tests/deploy/schemas/keda-scaledobject-v1alpha1.json

(the CRD files are config/crd/bases/ in the KEDA repository, at the tag named in `--keda`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items() if key != "description"}
    if "properties" in out:
        out["properties"] = {name: _strict(value) for name, value in node["properties"].items()}
        if "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


def strict_schema(crd: dict[str, Any], keda_version: str) -> dict[str, Any]:
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema = dict(version["schema"]["openAPIV3Schema"])
    schema["properties"] = {name: value for name, value in schema["properties"].items() if name != "status"}
    strict = _strict(schema)
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    strict["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
    strict["properties"]["kind"] = {"const": kind}
    strict["required"] = sorted({*strict.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$comment": f"{kind} {group}/{version['name']} from KEDA {keda_version}'s CRD by tests/deploy/keda_schema.py",
        **strict,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--keda", default="v2.20.2", help="the KEDA release the CRD comes from")
    args = parser.parse_args()
    crd = yaml.safe_load(args.crd.read_text())
    args.out.write_text(json.dumps(strict_schema(crd, args.keda), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
