#!/usr/bin/env python3
"""Reads a docketd scrape with the Prometheus client's own text parser and checks it.

    curl -s http://127.0.0.1:9464/metrics > scrape.txt
    python3 contrib/prometheus/check_scrape.py scrape.txt [--uses FILE ...]

Parses the exposition with prometheus_client's parser (pip install prometheus_client), checks
that every family has a HELP text and a type, and, for each FILE given with --uses (the
Grafana dashboard, the alert rules), that every docket_* name it mentions is in the scrape.
Prints one JSON object: {"families": {name: {"type", "help"}}, "samples": [[name, labels,
value], ...], "missing": {file: [names]}, "problems": [...]}; exits 1 when anything is
missing or wrong. The end-to-end tests run it on a real scrape taken with curl.
"""

import argparse
import json
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

# A docket metric name as PromQL, YAML or JSON would spell it.
NAME = re.compile(r"\bdocket_[a-z_]+\b")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scrape", help="a file holding one scrape (text format 0.0.4)")
    parser.add_argument("--uses", nargs="*", default=[], help="files whose docket_* names must be in the scrape")
    args = parser.parse_args()

    with open(args.scrape, encoding="utf-8") as f:
        text = f.read()
    families = {}
    samples = []
    problems = []
    for family in text_string_to_metric_families(text):
        # The parser drops a counter's _total suffix from the family name; its samples keep it.
        families[family.name] = {"type": family.type, "help": family.documentation}
        if not family.documentation:
            problems.append(f"{family.name} has no HELP text")
        if family.type not in ("counter", "gauge", "histogram"):
            problems.append(f"{family.name} has type {family.type}")
        for sample in family.samples:
            samples.append([sample.name, sample.labels, sample.value])

    known = {name for name, _, _ in samples} | set(families)
    missing = {}
    for path in args.uses:
        with open(path, encoding="utf-8") as f:
            used = sorted(set(NAME.findall(f.read())))
        absent = [name for name in used if name not in known]
        if absent:
            missing[path] = absent
        if not used:
            problems.append(f"{path} names no docket_* metric at all")

    json.dump({"families": families, "samples": samples, "missing": missing, "problems": problems}, sys.stdout)
    print()
    sys.exit(1 if missing or problems else 0)


if __name__ == "__main__":
    main()
