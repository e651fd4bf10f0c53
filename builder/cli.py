"""`multi-llm-coord` command line: build, validate, stats.

Heavy libraries are imported only after the arguments are parsed, so that `--help` is instant and
HF_HUB_OFFLINE can be set for local builds before huggingface libraries read it at import time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import typing
from pathlib import Path

from builder.config import SAMPLE_SOURCE, BuildConfig, flag_name


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    hints = typing.get_type_hints(BuildConfig)
    for field in BuildConfig.cli_fields():
        flag = flag_name(field.name)
        hint, default, help_text = hints[field.name], field.default, field.metadata["help"]
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif field.name == "languages":
            parser.add_argument("--language", dest="languages", action="append", default=[], help=help_text)
        elif field.name == "source":
            parser.add_argument("--source", dest="source", action="append", default=None,
                                help=f"{help_text} Repeatable: episodes of several sources are built together, their ids "
                                     "prefixed by the source's name so that they stay unique. (default: sample)")
        elif field.name in ("debate_sources", "team_sources"):
            parser.add_argument(flag, dest=field.name, action="append", default=None, help=help_text)
        elif field.name == "questions":
            parser.add_argument("--questions", dest="questions", action="append", default=[], help=help_text)
        elif field.name == "output_dir":
            parser.add_argument("--output-dir", "-o", type=Path, default=default, help=help_text)
        elif field.metadata.get("choices"):  # --projection, --labeler, --engine: the choices named once, in config
            parser.add_argument(flag, choices=field.metadata["choices"], default=default, help=help_text)
        else:
            kind = {int: int, int | None: int, float: float, Path | None: Path}.get(hint, str)
            parser.add_argument(flag, type=kind, default=default, help=f"{help_text} (default: {default})")


def make_parser() -> argparse.ArgumentParser:
    import builder
    from multi_llm_coord import SCHEMA_VERSION

    parser = argparse.ArgumentParser(prog="multi-llm-coord", description="Build and check the multi-llm-coord dataset.")
    parser.add_argument("--version", action="version",
                        version=f"multi-llm-coord {builder.__version__} (dataset schema {SCHEMA_VERSION})")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="Build the dataset folder (Parquet configs, card, report).")
    _add_config_flags(build)
    validate = commands.add_parser("validate", help="Check a built folder: schema, configs, invariants.")
    validate.add_argument("output_dir", type=Path)
    stats = commands.add_parser("stats", help="Print a built folder's report.")
    stats.add_argument("output_dir", type=Path)
    stats.add_argument("--json", action="store_true", help="Print the whole report as JSON.")
    push = commands.add_parser("push", help="Validate a built folder and publish it to the Hub in one commit.")
    push.add_argument("output_dir", type=Path)
    _add_push_flags(push)
    build_and_push = commands.add_parser("build-and-push", help="Build, then push the result (for maintainers).")
    _add_config_flags(build_and_push)
    _add_push_flags(build_and_push)
    return parser


def _add_push_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo-id", required=True, help="Hub dataset repo, ORG/NAME.")
    parser.add_argument("--private", action="store_true", help="Create the repo private (when it does not exist).")
    parser.add_argument("--revision", help="Branch to commit to (created if needed; default main).")
    parser.add_argument("--create-pr", action="store_true", help="Open a pull request instead of committing directly.")
    parser.add_argument("--dry-run", action="store_true", help="Print exactly what would be uploaded; upload nothing.")


def _is_local_source(source: str) -> bool:
    return source == SAMPLE_SOURCE or Path(source).exists()


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (what `timeout`, systemd, Kubernetes and batch schedulers send, or a closed terminal):
    raised in the main thread like Ctrl-C, so that every `with` on the way out cleans up as it does for SIGINT."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    raise Terminated(signum)


SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away


def main(argv: list[str] | None = None) -> int:
    """The command line; a reader that closes our output early (`stats --json | head -1`) ends it quietly with
    the status of a process that SIGPIPE ended, never a traceback. A build's folder is committed before its
    summary is printed, so a closed stdout after that costs nothing."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # Point stdout at /dev/null, so that the interpreter's last flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT


def _main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # SIGHUP does not exist on Windows
            signal.signal(getattr(signal, name), _terminate)
    if args.command == "build" and all(_is_local_source(s) for s in args.source or [SAMPLE_SOURCE]) and all(
            _is_local_source(s) or s == "none" for s in [*(args.debate_sources or ()), *(args.team_sources or ())]):
        # A local build needs nothing from the Hub; offline mode avoids ~30 s of retries without network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        if args.command == "build":
            return _build(args)
        if args.command == "validate":
            return _validate(args.output_dir)
        if args.command == "push":
            return _push(args)
        if args.command == "build-and-push":
            return _build(args) or _push(args)
        return _stats(args.output_dir, as_json=args.json)
    except Terminated as stop:
        print(f"terminated by {signal.Signals(stop.signum).name}; the output folder was left as it was", file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt:
        print("interrupted; the output folder was left as it was", file=sys.stderr)
        return 130


def _build(args) -> int:
    from builder.config import ConfigError
    from builder.output.folder import OutputRefused
    from builder.pipeline import BuildError, build
    from builder.push import PushError, check_repo_id
    from builder.redact import redact
    from builder.sources import SourceError

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(BuildConfig)}
    values["languages"] = tuple(values["languages"])
    values["questions"] = tuple(values["questions"])
    for name in ("debate_sources", "team_sources"):
        values[name] = tuple(values[name]) if values[name] is not None else None
    sources = values["source"] or [SAMPLE_SOURCE]
    values["source"] = sources[0] if len(sources) == 1 else tuple(sources)
    try:
        config = BuildConfig(**values)
        if args.command == "build-and-push":
            check_repo_id(args.repo_id)  # before the build, not after it
        report = build(config)
    except (ConfigError, OutputRefused, PushError, SourceError, BuildError, ValueError) as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return 2 if isinstance(error, (ConfigError, OutputRefused, SourceError)) else 1
    print(summary_table(report, read_run_log(config.output_dir)))
    print(f"wrote {config.output_dir}")
    return 0


def read_run_log(output_dir: Path) -> dict | None:
    from builder.layout import RUN_FILE

    try:
        return json.loads((Path(output_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _push(args) -> int:
    from builder.push import PushError, check_repo_id, push

    try:  # usage and input errors (exit 2) before anything is sent; a refused or failed push is exit 1
        check_repo_id(args.repo_id)
    except PushError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.output_dir.is_dir():
        print(f"error: {args.output_dir}: no such folder", file=sys.stderr)
        return 2
    try:
        push(args.output_dir, args.repo_id, private=args.private, revision=args.revision, create_pr=args.create_pr,
             dry_run=args.dry_run)
    except PushError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _validate(output_dir: Path) -> int:
    from builder.validate import validate_folder

    if not output_dir.is_dir():  # an input error (exit 2), not an invalid build (exit 1)
        print(f"error: {output_dir}: no such folder", file=sys.stderr)
        return 2
    problems = validate_folder(output_dir)
    if problems:
        for problem in problems:
            print(f"invalid: {problem}", file=sys.stderr)
        print(f"{output_dir}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{output_dir}: valid")
    return 0


def _stats(output_dir: Path, as_json: bool) -> int:
    from builder.layout import REPORT_FILE

    path = Path(output_dir) / REPORT_FILE
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        print(f"error: cannot read {path}: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, sort_keys=True) if as_json else summary_table(report, read_run_log(output_dir)))
    return 0


def summary_table(report: dict, run: dict | None = None) -> str:
    """What the build did, for the terminal: configs, each family's rows and rejections, tokens, labels, the
    probe's reading, warnings, and (from build-run.json) seconds per step and cache hits."""
    width = max(len("config"), *(len(name) for name in report["configs"])) + 2
    lines = [f"{'config':<{width}}{'episodes':>10}{'turns':>8}{'tokens':>12}{'parquet bytes':>15}"]
    from multi_llm_coord import CONFIG_NAMES

    ordered = sorted(report["configs"].items(), key=lambda item: CONFIG_NAMES.index(item[0]))  # stats.json sorts keys
    for name, info in ordered:
        lines.append(f"{name:<{width}}{info['episodes']:>10}{info['turns']:>8}{info['total_tokens']:>12}"
                     f"{info['parquet_bytes']:>15}")
    from builder.families import FAMILIES

    families = [(f.name, report if f.report_section is None else report.get(f.report_section)) for f in FAMILIES]
    for family, section in ((name, section) for name, section in families if section):
        rejections = section["rejections"]
        lines.append(f"{family}: rows read {section['rows_read']}, accepted {section['episodes_accepted']}, "
                     f"rejected {rejections['total']}")
        for reason, count in rejections["by_reason"].items():
            first = rejections["examples"][reason][0]
            lines.append(f"  rejected {count:>6}  {reason}  (first: {first['file']} line {first['line']})")
        tokens = section["tokens"]["total_tokens"]
        lines.append(f"  tokens per episode ({report['options']['encoding']}): min {tokens['min']}, "
                     f"median {tokens['median']}, max {tokens['max']}")
        labels = section["labels"]
        line = f"  labels ({labels['labeler']['name']}): {labels['labelled']} labelled, {labels['missing']} missing"
        usage = labels.get("judge_usage")
        if usage:
            line += (f"; judge calls {usage['calls']} (retries {usage['retries']}, cached {usage['cached']}), "
                     f"tokens in {usage['tokens_in']} / out {usage['tokens_out']}")
        lines.append(line)
        for sentence in section["latent_probe"].get("reading", []):
            lines.append(f"  probe: {sentence}")
        attribution = (section.get("n_agent") or {}).get("human_attribution") or {}
        for split, result in attribution.get("splits", {}).items():
            shown = {m: result["methods"][m] for m in ("labels", "random", "last_step")}
            lines.append(f"  human failure attribution, {split} ({result['role']}, {result['episodes']} runs): "
                         + "; ".join(f"{m} agent {r['agent_accuracy']} {r['agent_accuracy_ci95']}, step "
                                     f"{r['step_accuracy']} {r['step_accuracy_ci95']}" for m, r in shown.items()))
        for warning in section.get("warnings", []):
            lines.append(f"  warning: {warning}")
    if run:
        steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in run["elapsed_seconds"].items())
        lines.append(f"elapsed {run['total_seconds']:.1f}s: {steps}")
        for family, caches in run["caches"].items():
            parts = [f"embeddings {caches['embeddings']['from_cache']} cached / {caches['embeddings']['embedded']} "
                     f"computed", f"probe scores {caches['probe_scores']['hits']} cached / "
                     f"{caches['probe_scores']['misses']} computed"]
            if "judge" in caches:
                parts.append(f"judge {caches['judge']['cached']} cached / {caches['judge']['calls']} calls")
            lines.append(f"caches ({family}): " + ", ".join(parts))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
