"""``ctxlearn export``: the subcommand's flags and what it prints."""
from __future__ import annotations

import argparse
import json
from typing import Any

from ctxlearn.errors import ConfigError
from ctxlearn.threads import threads_flag


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="write a deployable int8 copy of a run folder, with its measured accuracy and speed",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Quantize the backbone's linear layers to int8 (dynamic), after measuring fp32, the "
                                   "artifact's own precision and int8 on its test split; writes OUT/ (a run folder that "
                                   "predict, eval and serve load) with export.json. Example:\n"
                                   "  ctxlearn export runs/x --int8 --out runs/x-int8")
    p.add_argument("artifact", help="run folder written by `ctxlearn train` (a classifier, or a tagger: measured by "
                   "entity F1)")
    p.add_argument("--int8", action="store_true", help="dynamic int8 quantization (the only export so far; required)")
    p.add_argument("--out", required=True, help="folder to write (replaced atomically)")
    p.add_argument("--data", default=None, help="labelled data to measure on, as eval scores it: a held-out file "
                   "whole, a data folder's test split (default: the run's own data; its test split)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    threads_flag(p)  # the speeds it measures are at this many threads
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ctxlearn.export.run import export_int8, format_report

    if not args.int8:
        raise ConfigError("export: say which export with --int8 (the only one: dynamic int8 of the linear layers)")
    report = export_int8(args.artifact, args.out, args.data)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
