"""Helm, through helm-python-sdk (Helm's own Go SDK bound with ctypes), for
the chart's test in tests/tests/it/helm_chart.rs:

    python3 tests/helm/chart.py lint CHART VALUES.json
    python3 tests/helm/chart.py template CHART VALUES.json RELEASE
    python3 tests/helm/chart.py keys CHART

`lint` prints Helm's lint report as JSON; `template` prints the rendered
manifests as one YAML stream, or Helm's error on stderr with exit code 3;
`keys` prints the dotted path of every value the chart's values.yaml sets,
one per line (a map's keys below it; `env`, `resources` and `storage` as
one value each).
"""

import json
import sys

import helm_python as helm


WHOLE = {"env", "resources", "storage"}


def keys(values: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in WHOLE:
            out.extend(keys(value, path + "."))
        else:
            out.append(path)
    return out


def main() -> int:
    command, chart = sys.argv[1:3]
    if command == "keys":
        print("\n".join(keys(helm.Chart.load(chart).values)))
        return 0
    with open(sys.argv[3]) as f:
        values = json.load(f)
    if command == "lint":
        print(json.dumps(helm.lint(chart, values, strict=True)))
        return 0
    if command == "template":
        try:
            manifests = helm.Chart.load(chart).render(values, name=sys.argv[4], namespace="authpair", is_install=True)
        except helm.HelmError as e:
            print(e, file=sys.stderr)
            return 3
        for path in sorted(manifests):
            text = manifests[path].strip()
            if text and not path.endswith("NOTES.txt"):
                print(f"---\n# Source: {path}\n{text}")
        return 0
    print(f"unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
