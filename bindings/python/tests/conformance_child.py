"""Runs one layer-stack conformance vector in a fresh interpreter.

    python conformance_child.py VECTORS_JSON INDEX

The environment (DEGRADE_* variables of the vector) is set by the parent
(test_conformance.py). Prints one JSON object: the outcome of each
definition and each applied step ("ok" or the error message), and the
listing entry of each expected switch."""

import json
import sys

import degrade


def main(path, index):
    with open(path, encoding="utf-8") as f:
        vector = json.load(f)["stacks"][index]
    out = {"define": [], "apply": [], "switches": {}}
    for spec in vector.get("switches", []):
        try:
            degrade.switch(spec["name"], "conformance", groups=spec.get("groups", ()),
                           default=spec.get("default", "on"),
                           allow=spec.get("default_allow", 1.0))
            out["define"].append("ok")
        except degrade.DegradeError as e:
            out["define"].append(str(e))
    for step in vector.get("apply", []):
        text = step["text"] if "text" in step else json.dumps(step["snapshot"])
        try:
            degrade.apply_snapshot(step["layer"], text, source="vector")
            out["apply"].append("ok")
        except degrade.DegradeError as e:
            out["apply"].append(str(e))
    for name in vector.get("expect", {}):
        out["switches"][name] = degrade.get(name)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
