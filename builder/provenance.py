"""Where the data of a build comes from, in one place: for every known source its licence, citation, gating
terms and kind of judge; for any other local file what its maintainer declares (`--license`,
`--citation`, `--judge-kind`, or a sidecar `<file>.provenance.json` / `<folder>/provenance.json` with the
same keys), and otherwise `license: other` with a warning — never a claim borrowed from another source.

The card's YAML (`license`, `source_datasets`, creators, `multilinguality`, `pretty_name`) and its
licence, citation, gate and limitation sentences are all rendered from `Provenance` records and from
the data (the judge kinds are also counted from the episodes' `metadata.judge`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from builder.sources.loaders import SourceError, source_name

JUDGE_KINDS = ("human", "llm", "reference_answer", "synthetic")  # who decided an outcome

JUDGE_KIND_TEXT = {
    "human": "human votes (one person's preference per battle: noisy, and shaped by the voters' taste for length "
             "and style)",
    "llm": "an LLM judge's scores (a model's preferences, with its own biases, not human judgement)",
    "reference_answer": "comparison with a reference answer (correct or not; says nothing about style)",
    "synthetic": "illustrative verdicts written with the example data for this project (not real judgements)",
}

LMSYS_ARENA_CITATION = """@inproceedings{zheng2023judging,
  title     = {Judging {LLM}-as-a-Judge with {MT}-Bench and Chatbot Arena},
  author    = {Zheng, Lianmin and Chiang, Wei-Lin and Sheng, Ying and Zhuang, Siyuan and Wu, Zhanghao and
               Zhuang, Yonghao and Lin, Zi and Li, Zhuohan and Li, Dacheng and Xing, Eric P. and Zhang, Hao and
               Gonzalez, Joseph E. and Stoica, Ion},
  booktitle = {Advances in Neural Information Processing Systems, Datasets and Benchmarks Track},
  year      = {2023}
}"""
CHATBOT_ARENA_CITATION = """@misc{chiang2024chatbot,
  title         = {Chatbot Arena: An Open Platform for Evaluating {LLMs} by Human Preference},
  author        = {Chiang, Wei-Lin and Zheng, Lianmin and Sheng, Ying and Angelopoulos, Anastasios Nikolas and
                   Li, Tianle and Li, Dacheng and Zhang, Hao and Zhu, Banghua and Jordan, Michael and
                   Gonzalez, Joseph E. and Stoica, Ion},
  year          = {2024},
  eprint        = {2403.04132},
  archivePrefix = {arXiv}
}"""
# What arena-hard-auto's README (at the commit the sample comes from) asks users of its data to cite.
LMSYS_CHAT_CITATION = """@misc{zheng2023lmsyschat1m,
  title         = {LMSYS-Chat-1M: A Large-Scale Real-World LLM Conversation Dataset},
  author        = {Lianmin Zheng and Wei-Lin Chiang and Ying Sheng and Tianle Li and Siyuan Zhuang and Zhanghao Wu and
                   Yonghao Zhuang and Zhuohan Li and Zi Lin and Eric. P Xing and Joseph E. Gonzalez and Ion Stoica and
                   Hao Zhang},
  year          = {2023},
  eprint        = {2309.11998},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""
LMSYS_GATE = (
    "This dataset is derived from Chatbot Arena conversations (lmsys/chatbot_arena_conversations). User prompts "
    "are licensed CC-BY-4.0; model outputs are subject to the terms of use of each model. By accessing it you agree "
    "to the terms of the source dataset, including not attempting to identify the users who wrote the prompts.")


@dataclass(frozen=True)
class Provenance:
    """What a build may say about one of its sources."""

    name: str                       # how the card names it
    license: str | None             # a Hub licence id (cc-by-4.0, apache-2.0, mit, ...); None: not known
    judge_kind: str | None          # who decided the outcome (JUDGE_KINDS); None: not known
    citation: str | None = None     # BibTeX
    hub_id: str | None = None       # for the card's `source_datasets`
    gate: str | None = None         # terms a derived dataset must carry and gate on; None: not gated
    prompts: str = "authors the builder does not know"  # who wrote the prompts (the card's personal-information section)
    licence_note: str = ""          # what the licence covers, in words
    declared_by: str = "registry"   # registry | options | sidecar | nobody
    source_id: str | None = None    # the episodes' `source` value (pairwise), to count their judge ids per source
    warnings: list[str] = field(default_factory=list)

    def to_report(self) -> dict:
        return asdict(self)


MALLM_CITATION = ("@misc{mallm,\n  title = {MALLM: Multi-Agent Large Language Models Framework},\n"
                  "  author = {Multi-Agent-LLMs},\n  howpublished = {\\url{https://github.com/Multi-Agent-LLMs/mallm}}\n}")

WHO_AND_WHEN_CITATION = (
    "@inproceedings{zhang2025which,\n  title = {Which Agent Causes Task Failures and When? On Automated Failure "
    "Attribution of LLM Multi-Agent Systems},\n  author = {Shaokun Zhang and Ming Yin and Jieyu Zhang and Jiale Liu "
    "and Zhiguang Han and Jingyang Zhang and Beibin Li and Chi Wang and Huazheng Wang and Yiran Chen and Qingyun Wu},\n"
    "  booktitle = {Forty-second International Conference on Machine Learning},\n  year = {2025},\n"
    "  url = {https://openreview.net/forum?id=GazlTYxZss}\n}")

KNOWN: dict[str, Provenance] = {
    "sample": Provenance(
        name="arena-bench-v1 from lmarena/arena-hard-auto (github, commit 4a705dd): real Chatbot Arena prompts, "
             "model answers and GPT-4 scores", license="apache-2.0", judge_kind="llm", citation=LMSYS_CHAT_CITATION,
        prompts="Chatbot Arena users (real prompts chosen by the Arena-Hard authors; they can contain personal or "
                "offensive content)",
        licence_note="Apache-2.0 (the repository's licence); model answers also subject to each model's terms of use"),
    "lmsys/chatbot_arena_conversations": Provenance(
        name="lmsys/chatbot_arena_conversations", license="cc-by-4.0", judge_kind="human",
        citation=LMSYS_ARENA_CITATION, hub_id="lmsys/chatbot_arena_conversations", gate=LMSYS_GATE,
        prompts="anonymous Chatbot Arena users (they can contain personal or offensive content)",
        licence_note="user prompts CC-BY-4.0; model outputs subject to each model's terms of use"),
    "lmsys/mt_bench_human_judgments": Provenance(
        name="lmsys/mt_bench_human_judgments", license="cc-by-4.0", judge_kind="human",
        citation=LMSYS_ARENA_CITATION, hub_id="lmsys/mt_bench_human_judgments",
        prompts="the MT-Bench authors (80 curated multi-turn questions)",
        licence_note="CC-BY-4.0; model outputs subject to each model's terms of use"),
    "lmarena-ai/arena-human-preference-55k": Provenance(
        name="lmarena-ai/arena-human-preference-55k", license="apache-2.0", judge_kind="human",
        citation=CHATBOT_ARENA_CITATION, hub_id="lmarena-ai/arena-human-preference-55k",
        prompts="anonymous Chatbot Arena users (they can contain personal or offensive content)",
        licence_note="Apache-2.0 as released; model outputs subject to each model's terms of use"),
    "lmarena-ai/arena-human-preference-140k": Provenance(
        name="lmarena-ai/arena-human-preference-140k", license=None, judge_kind="human",
        citation=CHATBOT_ARENA_CITATION, hub_id="lmarena-ai/arena-human-preference-140k",
        prompts="anonymous LMArena users (they can contain personal or offensive content)",
        licence_note="not recorded in this builder: check the dataset page and pass --license"),
    "agent-scaling": Provenance(
        name="Agent-Scaling debate histories (github SafeRL-Lab/Agent-Scaling)", license="mit",
        judge_kind="reference_answer",
        citation="@misc{agentscaling,\n  title = {Agent-Scaling},\n  howpublished = {\\url{https://github.com/SafeRL-Lab/Agent-Scaling}}\n}",
        prompts="the benchmark's authors (e.g. GSM8K questions)", licence_note="code and logs MIT"),
    "mallm": Provenance(
        name="MALLM / Multi-Agent-LLMs DEBATE records", license="apache-2.0", judge_kind="reference_answer",
        citation=MALLM_CITATION,
        hub_id="Multi-Agent-LLMs/DEBATE", prompts="the benchmarks' authors", licence_note="Apache-2.0"),
    "mallm-demo": Provenance(
        name="MALLM records from Multi-Agent-LLMs/mallm-demo (github)", license="apache-2.0",
        judge_kind="reference_answer", citation=MALLM_CITATION,
        prompts="the MMLU-Pro authors (benchmark questions); the answers are meta-llama/Llama-3.1-70B-Instruct's",
        licence_note="Apache-2.0 (the repository's licence); model outputs also subject to the model's terms"),
    "who-and-when": Provenance(
        name="Who&When (github ag2ai/Agents_Failure_Attribution)", license="mit", judge_kind="reference_answer",
        citation=WHO_AND_WHEN_CITATION, hub_id="Kevin355/Who_and_When",
        prompts="GAIA and AssistantBench tasks; the messages are an AG2 CaptainAgent team's and Magentic-One's",
        licence_note="MIT; failure annotations by the dataset's human annotators"),
    "debate-sample": Provenance(
        name="the embedded debate sample of multi-llm-coord", license="mit", judge_kind="synthetic",
        prompts="the authors of this project (GSM8K-style questions; example data)",
        licence_note="written for this project and released under the project's MIT licence"),
}

# A judge id that names a model is an LLM judge (`gpt-4-single-answer-score`, `gpt4_pair`, `claude-...`).
MODEL_JUDGE = re.compile(r"gpt|claude|gemini|llama|mistral|qwen|deepseek|llm|model|auto", re.IGNORECASE)


def judge_kind_of(judge_id: str | None) -> str | None:
    """A judge id's kind as the data shows it: a model's name is an LLM judge, any other id a person."""
    if not judge_id:
        return None
    return "llm" if MODEL_JUDGE.search(judge_id) else "human"


def sidecar(path: Path) -> Path:
    return path / "provenance.json" if path.is_dir() else path.with_name(path.name + ".provenance.json")


def arena_provenance(source: str, *, license: str | None = None, citation: str | None = None,
                     judge_kind: str | None = None) -> Provenance:
    """The provenance of the pairwise source: the registry's for a known Hub id or the sample, the options'
    or the sidecar's for a local file, otherwise nothing claimed (license other, with a warning)."""
    return replace(_arena_provenance(source, license=license, citation=citation, judge_kind=judge_kind),
                   source_id=source_name(source))


def _arena_provenance(source: str, *, license: str | None, citation: str | None, judge_kind: str | None) -> Provenance:
    declared = {k: v for k, v in (("license", license), ("citation", citation), ("judge_kind", judge_kind)) if v}
    if source in KNOWN:
        base = KNOWN[source]
        return replace(base, **declared, declared_by="options") if declared else base
    path = Path(source)
    if path.exists() and sidecar(path).is_file():
        values = {**read_sidecar(sidecar(path)), **declared}
        base = Provenance(name=values.pop("name", path.name), license=None, judge_kind=None)
        return _checked(replace(base, **values, declared_by="sidecar"))
    base = Provenance(name=path.name if path.exists() else source, license=None, judge_kind=None,
                      declared_by="options" if declared else "nobody")
    return _checked(replace(base, **declared))


SIDECAR_KEYS = ("license", "citation", "judge_kind", "name", "prompts", "licence_note", "hub_id", "gate")


def read_text_file(path: Path, what: str) -> str:
    """A small UTF-8 text file the user points at (a sidecar, a citation), or one SourceError line naming it."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise SourceError(f"{what} {path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise SourceError(f"{what} {path}: not UTF-8 text (byte {error.start}; save it as UTF-8)") from None


def read_sidecar(path: Path) -> dict[str, str]:
    """A provenance.json sidecar: one JSON object whose keys are among SIDECAR_KEYS and whose values are strings
    (or null). Anything else is one SourceError line naming the file and the key."""
    try:
        values = json.loads(read_text_file(path, "provenance sidecar"))
    except ValueError as error:
        raise SourceError(f"provenance sidecar {path}: not JSON ({error})") from None
    if not isinstance(values, dict):
        raise SourceError(f"provenance sidecar {path}: expected a JSON object of {', '.join(SIDECAR_KEYS)}, "
                          f"got {type(values).__name__}")
    unknown = sorted(set(values) - set(SIDECAR_KEYS))
    if unknown:
        raise SourceError(f"provenance sidecar {path}: unknown keys {unknown} (known: {', '.join(SIDECAR_KEYS)})")
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            raise SourceError(f"provenance sidecar {path}: {key!r} is {type(value).__name__}, expected a string")
    return {key: value for key, value in values.items() if value is not None}


def debate_provenance(file_name: str, kind: str) -> Provenance:
    """The provenance of one N-agent file by its format (`agent-scaling`, `mallm`, `answer-set`, `debate-sample`, `mallm-demo`)."""
    if kind in KNOWN:
        return KNOWN[kind]
    return _checked(Provenance(name=file_name, license=None, judge_kind=None, declared_by="nobody"))


def team_provenance(path: Path, layout: str | None) -> Provenance:
    """An agent-team file's provenance: Who&When's where the file sits in one of its two layouts' folders (the
    embedded slice included), otherwise nothing claimed."""
    if layout is not None:
        return KNOWN["who-and-when"]
    return _checked(Provenance(name=path.name, license=None, judge_kind=None, declared_by="nobody"))


def _checked(provenance: Provenance) -> Provenance:
    warnings = []
    if provenance.license is None:
        warnings.append(f"{provenance.name}: no licence known; the card says `license: other` (pass --license or "
                        "write a provenance.json sidecar)")
    if provenance.judge_kind is not None and provenance.judge_kind not in JUDGE_KINDS:
        raise ValueError(f"judge kind {provenance.judge_kind!r} is not one of {', '.join(JUDGE_KINDS)}")
    return replace(provenance, warnings=warnings)


def card_licence(provenances: list[Provenance]) -> str | list[str]:
    """The Hub licence id(s) for the card's YAML: the sources' licence, the sorted list of them where the sources
    carry several (each part of the data keeps its own), `other` where any source's licence is unknown."""
    licences = sorted({p.license for p in provenances if p.license is not None})
    if not licences or any(p.license is None for p in provenances):
        return "other"
    return licences[0] if len(licences) == 1 else licences
