"""N-agent sources: which normaliser reads which file.

`--debate-source` takes files or folders; each file is recognised by its content (or, for Agent-Scaling
histories, by its name): Agent-Scaling history, MALLM records, or many-model answer sets. `sample` is
the embedded sample (Agent-Scaling in three topologies, MALLM in three paradigms, answer sets) with its
questions file. Yields (file name, row index, row, normalise) for builder.pipeline to collect.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

from builder.config import SAMPLE_SOURCE
from builder.sources.agent_scaling import NAME_PATTERN, agent_scaling_row_to_episode, parse_file_name, read_questions
from builder.sources.answer_sets import answer_set_row_to_episode, is_answer_set
from builder.sources.loaders import SourceError, iter_file, local_files, sample_dir
from builder.sources.mallm import is_mallm_record, mallm_row_to_episode
from builder.sources.rejections import Rejection


def sample_questions() -> dict[str, Path]:
    return {path.stem: path for path in sorted((sample_dir() / "questions").glob("*.jsonl"))}


def debate_sources_of(config) -> tuple[str, ...]:
    """The build's N-agent sources: as given (`none` dropped), or by default the embedded debate sample when
    the arena source is the embedded sample, and nothing otherwise."""
    if config.debate_sources is None:
        return (SAMPLE_SOURCE,) if config.source == SAMPLE_SOURCE else ()
    return tuple(source for source in config.debate_sources if source != "none")


def questions_of(config) -> dict[str, Path]:
    """{task: questions file}: the sample's when the debate sample is built, then every --questions TASK=PATH."""
    mapping = sample_questions() if SAMPLE_SOURCE in debate_sources_of(config) else {}
    for item in config.questions:
        task, separator, path = item.partition("=")
        if not separator or not task or not path:
            raise ValueError(f"--questions takes TASK=PATH, got {item!r}")
        mapping[task] = Path(path)
    return mapping


def resolve_sources(sources: tuple[str, ...]) -> list[Path]:
    files = []
    for source in sources:
        path = sample_dir() / "debate" if source == SAMPLE_SOURCE else Path(source)
        if not path.exists():
            raise SourceError(f"{source}: no such file or folder")
        found = local_files(path)
        if not found:
            raise SourceError(f"{source}: holds no readable debate files")
        files.extend(found)
    return files


def iter_debate_rows(sources: tuple[str, ...], questions: dict[str, Path], max_text_chars: int,
                     notes: list[str]) -> Iterator[tuple[str, int, object, callable]]:
    loaded_questions = {}
    for task, path in questions.items():
        try:
            loaded_questions[task] = read_questions(path)
        except (OSError, ValueError) as error:  # json.JSONDecodeError is a ValueError
            raise SourceError(f"questions file for task {task!r} ({path}): {error}") from error
    for path in resolve_sources(sources):
        stem = path.name.removesuffix(".gz").removesuffix(".jsonl")
        if NAME_PATTERN.match(stem):
            info = parse_file_name(path)
            task_questions = loaded_questions.get(info["task"])
            if task_questions is None:
                notes.append(f"{path.name}: no questions file for task {info['task']!r}; round-0 prompts are empty "
                             "(pass --questions TASK=PATH)")
            for index, row in iter_file(path):
                yield path.name, index, row, partial(agent_scaling_row_to_episode, index=index, path=path,
                                                     file_info=info, questions=task_questions,
                                                     max_text_chars=max_text_chars)
            continue
        normalise = None
        for index, row in iter_file(path):
            if normalise is None and not isinstance(row, Rejection):
                if is_mallm_record(row):
                    normalise = partial(mallm_row_to_episode, source=path.name, max_text_chars=max_text_chars)
                elif is_answer_set(row):
                    normalise = partial(answer_set_row_to_episode, source=path.name, max_text_chars=max_text_chars)
                else:
                    raise SourceError(f"{path}: not an Agent-Scaling history, MALLM record file or answer-set file "
                                      f"(first row has keys {sorted(row)[:8] if isinstance(row, dict) else type(row).__name__})")
            yield path.name, index, row, normalise or _undecodable
        if normalise is None:
            notes.append(f"{path.name}: no decodable row")


def _undecodable(row):
    raise row if isinstance(row, Rejection) else Rejection("malformed_row", "row before the file's format was known")
