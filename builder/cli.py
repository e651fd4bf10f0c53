"""`multi-llm-coord` command line: build, validate, stats.

Heavy libraries (and the modules of this package that import them: pipeline, evaluation, validate, push, the
card) are imported inside the command that needs them, after the arguments are parsed, so that `--help` is
instant and HF_HUB_OFFLINE can be set for local builds before huggingface libraries read it at import time. The
family registry imports none of them: the families' source flags are read from it here.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import typing
from pathlib import Path

import builder
from builder.benchmark.attribution import attribution_lines
from builder.benchmark.evaluation import test_reading
from builder.benchmark.trained import rank_curve_reading
from builder.config import BuildConfig, ConfigError, flag_name
from builder.families import FAMILIES, NothingToBuild, config_names, family_of_config
from builder.files import default_cache_dir
from builder.layout import CARD_FILE, DATA_DIR, MANIFEST_FILE, REPORT_FILE, RUN_FILE
from builder.output.report import RUN_LOG_SHAPE, ReportError, family_sections, read_report, shape_problems
from builder.redact import redact
from builder.sources import SourceError
from builder.sources.loaders import NO_SOURCE, SAMPLE_SOURCE
from multi_llm_coord import SCHEMA_VERSION


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
        elif field.name == "questions":
            parser.add_argument("--questions", dest="questions", action="append", default=[], help=help_text)
        elif field.name == "output_dir":
            parser.add_argument("--output-dir", "-o", type=Path, default=default, help=help_text)
        elif "parse" in field.metadata:  # --split-fractions, --trained-ranks: BuildConfig parses the text
            parser.add_argument(flag, default=default, help=f"{help_text} (default: {field.metadata['text'](default)})")
        elif field.metadata.get("choices"):  # --projection, --labeler, --engine: the choices named once, in config
            parser.add_argument(flag, choices=field.metadata["choices"], default=default, help=help_text)
        else:
            kind = {int: int, int | None: int, float: float, Path | None: Path}.get(hint, str)
            parser.add_argument(flag, type=kind, default=default, help=f"{help_text} (default: {default})")
    for family in FAMILIES:  # each family's own source flag, declared by the family
        if family.source_option:
            parser.add_argument(family.source_option.flag, dest=family.source_option.dest, action="append",
                                default=None, help=family.source_option.help)


def family_sources(args) -> dict[str, tuple[str, ...]]:
    """The families' source flags as given (a flag not given is absent: its family takes its default)."""
    given = {family.name: getattr(args, family.source_option.dest, None) for family in FAMILIES
             if family.source_option}
    return {name: tuple(values) for name, values in given.items() if values is not None}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="multi-llm-coord", description="Build and check the multi-llm-coord dataset.")
    parser.add_argument("--debug", action="store_true",
                        help=f"Show the traceback of an error instead of one line (also {DEBUG_VARIABLE}=1).")
    parser.add_argument("--version", action="version",
                        version=f"multi-llm-coord {builder.__version__} (dataset schema {SCHEMA_VERSION})")
    commands = parser.add_subparsers(dest="command", required=True)
    parser.commands = commands  # each command's own parser, for its usage line on a bad option (main)
    build = commands.add_parser("build", help="Build the dataset folder (Parquet configs, card, report).")
    _add_config_flags(build)
    validate = commands.add_parser("validate", help="Check a built folder: schema, configs, invariants.")
    validate.add_argument("output_dir", type=Path)
    stats = commands.add_parser("stats", help="Print a built folder's report.")
    stats.add_argument("output_dir", type=Path)
    stats.add_argument("--json", action="store_true", help="Print the whole report as JSON.")
    evaluate = commands.add_parser(
        "evaluate", help="Score your own per-episode vectors or predictions on any copy of the dataset (a build, a "
                         "folder of the published files, or a Hub repo id), beside the baselines and the stored "
                         "states: the protocol of the card's benchmark table.")
    evaluate.add_argument("target", metavar="TARGET",
                          help="a folder holding the dataset's data/ (a build, or a download of the published files), "
                               "or a Hub dataset repo id such as user/multi-llm-coord")
    evaluate.add_argument("--revision", help="the Hub revision (branch, tag or commit) when TARGET is a repo id")
    evaluate.add_argument("--vectors", type=Path, help="Parquet (episode_id, vector), .npz (episode_id, vectors) or .npy "
                                                        "(a structured array with fields episode_id, vector) "
                                                        "covering every episode scored; fitted like every feature set")
    evaluate.add_argument("--predictions", type=Path,
                          help="JSONL or Parquet keyed by episode_id: a class per target (side, decisive; final_correct, "
                               "consensus) and, for agent teams, failure_agent and failure_step; scored as they are "
                               "on the same episodes (out-of-fold predictions are yours to make)")
    evaluate.add_argument("--config", default="full",
                          help=f"a full config: {', '.join(f.full_config for f in FAMILIES)} (default: full)")
    evaluate.add_argument("--json", action="store_true", help="Print the scores as JSON.")
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
    return source in (SAMPLE_SOURCE, NO_SOURCE) or Path(source).exists()


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (what `timeout`, systemd, Kubernetes and batch schedulers send, or a closed terminal):
    raised in the main thread like Ctrl-C, so that every `with` on the way out cleans up as it does for SIGINT."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    raise Terminated(signum)


SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away
USAGE_EXIT = 2      # a usage or input error: an option, a source, an output folder, a report that cannot be used
FAILED_EXIT = 1     # a run that failed: nothing accepted, a judge that labelled too little, a full disk, a push refused
DEBUG_VARIABLE = "MULTI_LLM_COORD_DEBUG"


def main(argv: list[str] | None = None) -> int:
    """The command line, and the one place that turns an error into one line on stderr and an exit code
    (`exit_status`): no error prints a traceback unless asked (`--debug`, or MULTI_LLM_COORD_DEBUG=1). A reader
    that closes our output early (`stats --json | head -1`) ends it quietly with the status of a process that
    SIGPIPE ended. A build's folder is committed before its summary is printed, so a closed stdout costs nothing."""
    parser = make_parser()
    args, unknown = parser.parse_known_args(argv)  # a usage error is argparse's own message and exit 2
    if unknown:  # with the command's own usage, not the top-level one
        parser.commands.choices[args.command].error(
            f"unrecognized arguments: {' '.join(unknown)}")
    debug = args.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    try:
        return _main(args)
    except BrokenPipeError:
        # Point stdout at /dev/null, so that the interpreter's last flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    except Terminated as stop:
        print(f"terminated by {signal.Signals(stop.signum).name}; the output folder was left as it was", file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt:
        print("interrupted; the output folder was left as it was", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every error ends here, as one line
        if debug:
            raise
        code, line = exit_status(error, _places(args))
        print(f"error: {redact(line)}", file=sys.stderr)
        return code


def exit_status(error: Exception, places: dict[str, Path]) -> tuple[int, str]:
    """(exit code, one line) for an error: USAGE_EXIT for what the user gave (options, sources, output folder,
    reports), FAILED_EXIT for a run that failed, with the place named for an operating-system error."""
    from builder.output.folder import OutputRefused  # these two import huggingface_hub (see the module's docstring)
    from builder.push import PushError

    if isinstance(error, (ConfigError, OutputRefused, SourceError, ReportError, NothingToBuild)):
        return USAGE_EXIT, str(error)
    if isinstance(error, OSError):
        return FAILED_EXIT, describe_os_error(error, places)
    if isinstance(error, (PushError, ValueError)) or type(error).__name__ == "BuildError":
        return FAILED_EXIT, str(error)
    return FAILED_EXIT, (f"unexpected {type(error).__name__}: {error} (run again with --debug, or "
                         f"{DEBUG_VARIABLE}=1, to see where)")


def _places(args) -> dict[str, Path]:
    """The folders a command writes to, for naming the full or unwritable one when the error does not: the
    temporary folder, the cache folder (--cache-dir or the default) and, for a build, the output's parent."""
    import tempfile

    cache = getattr(args, "cache_dir", None)
    places = {"the temporary folder (TMPDIR)": Path(tempfile.gettempdir()),
              "the cache folder": Path(cache).expanduser().absolute() if cache else default_cache_dir()}
    if args.command in ("build", "build-and-push"):
        places["the output folder's parent"] = Path(args.output_dir).expanduser().absolute().parent
    return places


def describe_os_error(error: OSError, places: dict[str, Path]) -> str:
    """An operating-system error as one line naming the place: the file it names, or, for a full disk reported
    without one (Arrow's writers, for instance), the place among `places` with the least free space."""
    import errno
    import shutil

    reason = error.strerror or str(error)
    where = error.filename
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        if where is None:
            free = {}
            for name, path in places.items():
                existing = next((p for p in (path, *path.parents) if p.exists()), None)
                if existing is not None:
                    free[name] = (shutil.disk_usage(existing).free, existing)
            if free:
                name = min(free, key=lambda n: free[n][0])
                where = f"{free[name][1]} ({name}, {free[name][0] // 1024} KiB free)"
        return (f"no space left on device writing {where or 'a file'}; free some space or point the build elsewhere "
                "(TMPDIR for its work folder, --output-dir, --cache-dir)")
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write {where or 'a file'}: {reason}"
    return f"{reason}: {where}" if where else reason


def _main(args) -> int:
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # SIGHUP does not exist on Windows
            signal.signal(getattr(signal, name), _terminate)
    if args.command == "build" and all(_is_local_source(s) for s in args.source or [SAMPLE_SOURCE]) and all(
            _is_local_source(s) for sources in family_sources(args).values() for s in sources):
        # A local build needs nothing from the Hub; offline mode avoids ~30 s of retries without network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "build":
        return _build(args)
    if args.command == "validate":
        return _validate(args.output_dir)
    if args.command == "push":
        return _push(args)
    if args.command == "evaluate":
        from builder.benchmark.scoring import scoring_threads

        with scoring_threads():  # the build's analyses fit the same way: the card's figures are reproduced
            return _evaluate(args)
    if args.command == "build-and-push":
        return _build(args) or _push(args)
    return _stats(args.output_dir, as_json=args.json)


def _build(args) -> int:
    from builder.pipeline import build

    values = {f.name: getattr(args, f.name) for f in BuildConfig.cli_fields()}
    values["languages"] = tuple(values["languages"])
    values["questions"] = tuple(values["questions"])
    values["family_sources"] = family_sources(args)
    sources = values["source"] or [SAMPLE_SOURCE]
    values["source"] = sources[0] if len(sources) == 1 else tuple(sources)
    config = BuildConfig(**values)
    if args.command == "build-and-push" and _bad_repo_id(args.repo_id):  # before the build, not after it
        return USAGE_EXIT
    report = build(config)
    print(summary_table(report, read_run_log(config.output_dir)))
    print(f"wrote {config.output_dir}")
    return 0


def _bad_repo_id(repo_id: str) -> bool:
    from builder.push import PushError, check_repo_id

    try:
        check_repo_id(repo_id)
    except PushError as error:
        print(f"error: {error}", file=sys.stderr)
        return True
    return False


def read_run_log(output_dir: Path) -> dict | None:
    """build-run.json (seconds per step, cache hits), or None where it is absent or of another shape: it only
    adds lines to the summary."""
    try:
        run = json.loads((Path(output_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return run if not shape_problems(run, RUN_LOG_SHAPE) else None


def _push(args) -> int:
    from builder.push import push

    if _bad_repo_id(args.repo_id):  # usage and input errors (exit 2) before anything is sent
        return USAGE_EXIT
    if not args.output_dir.is_dir():
        print(f"error: {args.output_dir}: no such folder", file=sys.stderr)
        return USAGE_EXIT
    push(args.output_dir, args.repo_id, private=args.private, revision=args.revision, create_pr=args.create_pr,
         dry_run=args.dry_run)  # a refused or failed push (PushError) is FAILED_EXIT, in main
    return 0


def _evaluate(args) -> int:
    from builder.benchmark.evaluation import (ATTRIBUTION_COLUMNS, EvaluationError, evaluation_seed,
                                    read_predictions, read_split_episodes, read_vectors, resolve_target, score_on_test,
                                    table_lines)
    from builder.benchmark.attribution import attribution_report
    from builder.benchmark.failure_modes import failure_mode_lines, failure_mode_report, target_name
    from builder.sources.mast import FAILURE_MODES

    family = family_of_config(args.config)
    if family is None or family.full_config != args.config:
        print(f"error: --config must be one of {', '.join(f.full_config for f in FAMILIES)}, got {args.config!r}",
              file=sys.stderr)
        return USAGE_EXIT
    try:
        folder = resolve_target(args.target, args.config, args.revision)
    except EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_EXIT
    if refused_as_no_build(folder):
        return USAGE_EXIT
    if not (folder / DATA_DIR / args.config).is_dir():
        built = [f.full_config for f in FAMILIES if (folder / DATA_DIR / f.full_config).is_dir()]
        print(f"error: {args.target}: this copy has no config {args.config} (its full configs: "
              f"{', '.join(built) or 'none'})", file=sys.stderr)
        return USAGE_EXIT
    try:
        episodes = read_split_episodes(folder, args.config, family)
        # every episode scored: the benchmark's (sampled past MAX_EPISODES), every MAST trace with a verdict and
        # every annotated run of attribution
        vectors = read_vectors(args.vectors, episodes.state_ids()) if args.vectors else None
        targets = [*family.probe_targets([]), *(map(target_name, FAILURE_MODES) if episodes.failure_modes else ())]
        predictions = read_predictions(args.predictions, targets, episodes.scored_ids()) if args.predictions else None
        seed = evaluation_seed(folder)  # the card's intervals used the build's seed
        results = score_on_test(folder, family, vectors, seed=seed, episodes=episodes, predictions=predictions)
    except EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_EXIT
    failure_modes = (failure_mode_report(episodes.failure_modes, seed, vectors, predictions)
                     if episodes.failure_modes else None)
    attribution = None
    if episodes.attribution:
        theirs = None
        if predictions is not None and set(ATTRIBUTION_COLUMNS) & {c for p in predictions.values() for c in p}:
            theirs = {i: (p.get("failure_agent"), p.get("failure_step")) for i, p in predictions.items()}
        attribution = attribution_report(episodes.attribution, seed, theirs)
    if args.json:
        print(json.dumps({"config": args.config, "seed": seed, "targets": results,
                          "failure_attribution": attribution, "failure_modes": failure_modes}, indent=2,
                         sort_keys=True))
        return 0
    lines = table_lines(results)
    if attribution:
        lines += ["", "failure attribution against the human annotations:", *attribution_lines(attribution)]
    if failure_modes:
        lines += ["", "MAST's failure modes:", *failure_mode_lines(failure_modes)]
    print("\n".join(lines))
    return 0


def not_a_build(folder: Path) -> str | None:
    """Why `folder` is not a build folder at all (one line), or None: what `validate`, `stats` and `evaluate` refuse
    as an input error (exit 2) before looking inside. A build folder with problems is another matter (`validate`
    lists them, exit 1)."""
    folder = Path(folder)
    if not folder.exists():
        return f"{folder}: no such folder"
    if not folder.is_dir():
        return f"{folder}: not a folder"
    if not any((folder / name).is_file() for name in (REPORT_FILE, MANIFEST_FILE, CARD_FILE)) \
            and not (folder / DATA_DIR).is_dir():
        return f"{folder}: not a build folder (no {REPORT_FILE}, {MANIFEST_FILE}, {CARD_FILE} or {DATA_DIR}/)"
    return None


def refused_as_no_build(folder: Path) -> bool:
    """Says in one line why `folder` is not a build folder, where it is not one (an input error: exit 2)."""
    refusal = not_a_build(folder)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
    return refusal is not None


def _validate(output_dir: Path) -> int:
    from builder.validate import validate_folder

    if refused_as_no_build(output_dir):  # an input error (exit 2), not an invalid build (exit 1)
        return USAGE_EXIT
    problems = validate_folder(output_dir)
    if problems:
        for problem in problems:
            print(f"invalid: {problem}", file=sys.stderr)
        print(f"{output_dir}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{output_dir}: valid")
    return 0


def _stats(output_dir: Path, as_json: bool) -> int:
    if refused_as_no_build(output_dir):
        return USAGE_EXIT
    report = read_report(Path(output_dir) / REPORT_FILE)  # a missing or corrupt report: ReportError, exit 2
    print(json.dumps(report, indent=2, sort_keys=True) if as_json else summary_table(report, read_run_log(output_dir)))
    return 0


def summary_table(report: dict, run: dict | None = None) -> str:
    """What the build did, for the terminal: configs, each family's rows and rejections, tokens, labels, the
    probe's reading, warnings, and (from build-run.json) seconds per step and cache hits."""
    width = max(len("config"), *(len(name) for name in report["configs"])) + 2
    lines = [f"{'config':<{width}}{'episodes':>10}{'turns':>8}{'tokens':>12}{'parquet bytes':>15}"]
    known = config_names()  # stats.json sorts its keys: the registry's order, then any config it does not know
    ordered = sorted(report["configs"].items(), key=lambda item: (known.index(item[0]) if item[0] in known
                                                                    else len(known), item[0]))
    for name, info in ordered:
        lines.append(f"{name:<{width}}{info['episodes']:>10}{info['turns']:>8}{info['total_tokens']:>12}"
                     f"{info['parquet_bytes']:>15}")
    for family, section in family_sections(report):
        rejections = section["rejections"]
        lines.append(f"{family.name}: rows read {section['rows_read']}, accepted {section['episodes_accepted']}, "
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
        for sentence in test_reading(section.get("test_split") or {}):
            lines.append(f"  test split: {sentence}")
        if "rank_curve" in section:
            for sentence in rank_curve_reading(section["rank_curve"]):
                lines.append(f"  rank curve: {sentence}")
        attribution = (section.get("n_agent") or {}).get("human_attribution")
        if attribution:
            lines += [f"  human failure attribution, {line}" if not line.startswith(" ") else f"  {line}"
                      for line in attribution_lines(attribution)]
        benchmark = ((section.get("n_agent") or {}).get("failure_modes") or {}).get("benchmark")
        if benchmark:
            lines += [f"  failure mode {result['reading']}" for result in benchmark["targets"].values()
                      if "reading" in result]
        for note in section.get("notes", []):
            lines.append(f"  note: {note}")
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
        if run.get("python_warnings"):
            lines.append(f"python warnings: {len(run['python_warnings'])} kinds, recorded in {RUN_FILE} (not data)")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
