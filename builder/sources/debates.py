"""N-agent sources: which normaliser reads which file.

`--debate-source` takes files or folders; each file is recognised by its content (or, for Agent-Scaling
histories, by its name): Agent-Scaling history, MALLM records, or many-model answer sets. `sample` is
the embedded sample (Agent-Scaling in three topologies, MALLM in three paradigms, answer sets) with its
questions file. `plan_debate_sources` checks all of that before the build starts; `iter_debate_rows`
then yields (location, row, normalise) for builder.pipeline to collect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from builder.sources.loaders import SAMPLE_SOURCE
from builder.sources.agent_scaling import (
    NAME_PATTERN,
    agent_scaling_order,
    agent_scaling_row_to_episode,
    parse_file_name,
    read_questions,
)
from builder.sources.answer_sets import answer_set_row_to_episode, is_answer_set
from builder.sources.loaders import (
    SourceError,
    iter_file,
    iter_hub_rows,
    local_files,
    looks_like_local_path,
    sample_dir,
)
from builder.sources.mallm import is_mallm_record, mallm_row_to_episode
from builder.rejections import Rejection, RowLocation


def sample_questions() -> dict[str, Path]:
    return {path.stem: path for path in sorted((sample_dir() / "questions").glob("*.jsonl"))}


def questions_of(questions: tuple[str, ...], sources: tuple[str, ...]) -> dict[str, Path]:
    """{task: questions file}: the sample's when the debate sample is among `sources`, then every --questions
    TASK=PATH of `questions`."""
    mapping = sample_questions() if SAMPLE_SOURCE in sources else {}
    for item in questions:  # TASK=PATH, checked by BuildConfig
        task, _, path = item.partition("=")
        mapping[task] = Path(path)
    return mapping


@dataclass(frozen=True)
class HubSource:
    """An N-agent dataset on the Hub, `ORG/NAME` or `ORG/NAME:CONFIG` (e.g. Multi-Agent-LLMs/DEBATE:CONFIG)."""

    dataset_id: str
    config: str | None

    @property
    def name(self) -> str:
        return f"{self.dataset_id}:{self.config}" if self.config else self.dataset_id

    def rows(self):
        return iter_hub_rows(self.dataset_id, self.config)


# Folders of the embedded debate sample that hold slices of real logs, by their provenance (builder.provenance);
# the other sample files were written for this project.
REAL_SAMPLE_SLICES = {"mallm-demo": "mallm-demo"}

HUB_DEBATE_ID = re.compile(r"^(?P<id>[A-Za-z0-9][\w.-]*/[\w.-]+)(?::(?P<config>[\w.-]+))?$")


def resolve_sources(sources: tuple[str, ...]) -> list[Path | HubSource]:
    files: list[Path | HubSource] = []
    for source in sources:
        path = sample_dir() / "debate" if source == SAMPLE_SOURCE else Path(source)
        hub = HUB_DEBATE_ID.match(source)
        if not path.exists() and hub and not looks_like_local_path(source.split(":")[0]):
            files.append(HubSource(hub.group("id"), hub.group("config")))
            continue
        if not path.exists():
            raise SourceError(f"--debate-source {source}: no such file or folder")
        found = local_files(path, "--debate-source")
        if not found:
            raise SourceError(f"--debate-source {source}: holds no readable debate files")
        files.extend(found)
    return files


@dataclass
class DebateFile:
    path: Path | HubSource
    normalise: Callable  # (row, ordinal) -> episode
    kind: str            # agent-scaling, mallm, answer-set, debate-sample or mallm-demo (builder.provenance)

    @property
    def name(self) -> str:
        return self.path.name

    def rows(self):
        return self.path.rows() if isinstance(self.path, HubSource) else iter_file(self.path)


@dataclass
class DebatePlan:
    """Every N-agent file with the normaliser for its format, decided before any row is read for the build."""

    files: list[DebateFile]
    notes: list[str] = field(default_factory=list)


def plan_debate_sources(sources: tuple[str, ...], questions: dict[str, Path], max_text_chars: int,
                        questions_order: str = "file") -> DebatePlan:
    """Resolve the files, recognise each one's format and load the questions files: every mistake in the
    options (a missing path, an unrecognisable file, a broken questions file) is found before any work."""
    loaded = {}
    for task, path in questions.items():
        try:
            loaded[task] = read_questions(path)
            if questions_order == "agent_scaling" and path.parent != sample_dir() / "questions":
                loaded[task] = agent_scaling_order(loaded[task])
        except (OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
            raise SourceError(f"questions file for task {task!r} ({path}): {error}") from error
    plan = DebatePlan(files=[])
    for path in resolve_sources(sources):
        if isinstance(path, HubSource):  # a Hub dataset: its format is recognised from its first streamed row
            plan.files.append(DebateFile(path, *_sniff(path.name, path.rows(), max_text_chars)))
            continue
        stem = path.name.removesuffix(".gz").removesuffix(".jsonl")
        if NAME_PATTERN.match(stem):
            try:
                info = parse_file_name(path)
            except ValueError as error:  # e.g. an R no run could have
                raise SourceError(f"--debate-source: {error}") from None
            task_questions = loaded.get(info["task"])
            if task_questions is None:
                plan.notes.append(f"{path.name}: no questions file for task {info['task']!r}; round-0 prompts are "
                                  "empty (pass --questions TASK=PATH)")
            normalise, kind = partial(_agent_scaling, path=path, file_info=info, questions=task_questions,
                                      max_text_chars=max_text_chars), "agent-scaling"
        else:
            normalise, kind = _sniff(path.name, iter_file(path), max_text_chars)
        if path.is_relative_to(sample_dir()):  # real slices have their own folder and provenance
            kind = REAL_SAMPLE_SLICES.get(path.parent.name, "debate-sample")
        plan.files.append(DebateFile(path, normalise, kind))
    return plan


def _sniff(name: str, rows, max_text_chars: int) -> tuple[Callable, str]:
    """The normaliser and format of a MALLM or answer-set source, from its first decodable row."""
    for _, row in rows:
        if isinstance(row, Rejection):
            continue
        if is_mallm_record(row):
            return partial(_ignoring_ordinal, mallm_row_to_episode, source=name,
                           max_text_chars=max_text_chars), "mallm"
        if is_answer_set(row):
            return partial(_ignoring_ordinal, answer_set_row_to_episode, source=name,
                           max_text_chars=max_text_chars), "answer-set"
        keys = sorted(row)[:8] if isinstance(row, dict) else type(row).__name__
        raise SourceError(f"{name}: not an Agent-Scaling history, MALLM record file or answer-set file "
                          f"(first row has keys {keys})")
    return _undecodable, "unknown"  # no decodable row: every row is rejected with its own reason


def iter_debate_rows(plan: DebatePlan) -> Iterator[tuple[RowLocation, object, Callable]]:
    """(location, row, normalise) for every row of every planned file; `normalise(row)` gives the episode."""
    for debate_file in plan.files:
        ordinal = 0  # the record's position among the file's records: Agent-Scaling's question index
        for location, row in debate_file.rows():
            yield location, row, partial(debate_file.normalise, ordinal=ordinal)
            ordinal += 1


def _agent_scaling(row, ordinal: int, **kwargs):
    return agent_scaling_row_to_episode(row, index=ordinal, **kwargs)


def _ignoring_ordinal(normaliser, row, ordinal: int, **kwargs):
    return normaliser(row, **kwargs)


def _undecodable(row, ordinal: int = 0):
    raise Rejection("malformed_row", "row of a file whose format is unknown")
