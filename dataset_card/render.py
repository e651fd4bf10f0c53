"""Render the dataset card (README.md) of a built folder from its build report."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

import datasets
import jinja2
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

import multi_llm_coord
from builder.benchmark.baselines import BENCHMARK_BASELINES, described
from builder.benchmark.evaluation import test_reading
from builder.benchmark.trained import ordered_rows, rank_curve_reading
from builder.families import FAMILIES
from builder.layout import LICENCES_FILE
from builder.output.report import family_sections
from builder.output.tally import TOTAL_NAMES
from builder.provenance import JUDGE_KIND_TEXT, Provenance, card_licence
from builder.stages.labels import offline
from builder.statistics import UNKNOWN
from multi_llm_coord import DEFAULT_CONFIG, FIELD_DOCS, FLAT_TOKEN_FIELDS


@lru_cache(maxsize=1)
def language_codes() -> dict[str, str]:
    """Language name (lower case) -> the code the Hub's `language:` list takes, from the table `datasets` ships
    (utils/resources/languages.json, the Hub's own list: ISO 639-1/2/3, 8,000 entries). Each of an entry's names
    counts ("Spanish; Castilian"), also without its qualifier ("Modern Greek (1453-)" -> modern greek, greek);
    where names collide the shortest code wins (ISO 639-1 before 639-3)."""
    table = json.loads((Path(datasets.__file__).parent / "utils" / "resources" / "languages.json").read_text("utf-8"))
    codes: dict[str, str] = {code: code for code in table}  # a code stands for itself ("en" is also a name)
    for code, names in sorted(table.items(), key=lambda item: (len(item[0]), item[0])):
        for name in names.split(";"):
            plain = re.sub(r"\s*\(.*?\)", "", name).strip().lower()
            for spelling in {name.strip().lower(), plain, plain.removeprefix("modern ")}:
                codes.setdefault(spelling, code)
    return codes


def language_code(name: str) -> str | None:
    """The Hub code of a source's language name (`English`, `Hebrew`, or already a code such as `en`), or None."""
    return language_codes().get(name.strip().lower())


def size_category(count: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if count < bound:
            return label
    return "1M<n<10M"


def feature_type(feature) -> str:
    """A short readable type for the card's field table."""
    if isinstance(feature, datasets.ClassLabel):
        return "class label (" + ", ".join(feature.names) + ")"
    if isinstance(feature, datasets.Value):
        return feature.dtype
    if isinstance(feature, datasets.List):
        inner = "struct" if isinstance(feature.feature, dict) else feature_type(feature.feature)
        length = f"[{feature.length}]" if getattr(feature, "length", -1) not in (-1, None) else ""
        return f"list{length} of {inner}"
    if isinstance(feature, dict):
        return "struct"
    return type(feature).__name__


def field_rows(features, prefix: str = "") -> list[dict]:
    """One row per column and nested field, depth first, in schema order."""
    rows = []
    for name, feature in features.items():
        path = f"{prefix}{name}"
        rows.append({"name": path, "type": feature_type(feature), "doc": FIELD_DOCS.get(path, "")})
        inner = feature.feature if isinstance(feature, datasets.List) else feature
        if isinstance(inner, dict):
            rows.extend(field_rows(inner, prefix=f"{path}."))
    return rows


ANNOTATION_CREATORS = {"human": "crowdsourced", "llm": "machine-generated", "reference_answer": "found",
                       "synthetic": "expert-generated"}


# Judge kinds that a judge id shows (a model's name, or a person's id); the others only a source can declare.
COUNTABLE_KINDS = ("human", "llm")


def provenance_of(report: dict) -> list[dict]:
    """Every source of the build (pairwise, then N-agent) with `decided_by`: [(judge kind, episodes or None)],
    what the card says decided its outcomes. Where the source's episodes carry judge ids and nothing else was
    declared for it (or what was declared is itself a person or a model), the counts of its own judge ids decide
    (7 people and 1 model: human 7, llm 1); otherwise the declared kind, uncounted. `judge_kind` is the most
    common of them."""
    found = []
    for _, section in family_sections(report):
        by_source = section.get("judge_kinds_by_source", {})
        for entry in section["provenance"]:
            counted = {k: n for k, n in by_source.get(entry.get("source_id"), {}).items() if k != UNKNOWN}
            declared = entry["judge_kind"]
            if counted and declared in (None, *COUNTABLE_KINDS):
                decided_by = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
            else:
                decided_by = [(declared, None)] if declared else []
            found.append({**entry, "decided_by": decided_by, "judge_kind": decided_by[0][0] if decided_by else None})
    return found


def decided_by_text(decided_by: list, words: dict[str, str] | None = None) -> str:
    """`llm (48 episodes)`, `human 7, llm 1 episodes`, `reference_answer`; with `words`, each kind in words."""
    if not decided_by:
        return "not known"
    name = (lambda kind: words[kind]) if words else (lambda kind: kind)
    if decided_by[0][1] is None:
        return name(decided_by[0][0])
    if len(decided_by) == 1:
        return f"{name(decided_by[0][0])} ({decided_by[0][1]} episodes, by their judge ids)"
    return "; ".join(f"{count} episodes: {name(kind)}" for kind, count in decided_by) + " (by their judge ids)"


PRETTY_NAME = "Multi-LLM coordination episodes"
LICENCE_NAME = "per-source-licences"  # the card's `license_name` where the YAML says `other`


def render_licences(report: dict) -> str:
    """LICENSE.md: each source's licence, what it covers and how to cite it, from the same provenance records as
    the card (which links it as `license_link` where its `license` is `other`)."""
    lines = ["# Licences of this dataset's sources", "",
             "Each part of this dataset keeps the licence of the source it was built from. A licence the builder does "
             "not know is said so; check that source's terms before you use its part.", ""]
    for source in provenance_of(report):
        lines.append(f"## {source['name']}")
        lines.append("")
        lines.append(f"- Licence: {source['license'] or 'not known to the builder'}"
                     + (f" ({source['licence_note']})" if source["licence_note"] else ""))
        if source["gate"]:
            lines.append(f"- Terms: {source['gate']}")
        if source["citation"]:
            lines += ["- Citation:", "", "```bibtex", source["citation"], "```"]
        lines.append("")
    return "\n".join(lines)


def example_row(report: dict, episode: dict | None) -> str | None:
    """One episode of `mini` as JSON with long texts and latent vectors shortened, for the card."""
    if episode is None:
        return None

    def shorten(value):
        if isinstance(value, str) and len(value) > 120:
            return value[:120] + " [...]"
        if isinstance(value, list) and len(value) > 4 and all(isinstance(v, float) for v in value):
            return [round(v, 4) for v in value[:3]] + [f"... {len(value)} floats"]
        if isinstance(value, list):
            return [shorten(v) for v in value]
        if isinstance(value, dict):
            return {k: shorten(v) for k, v in value.items()}
        return round(value, 4) if isinstance(value, float) else value

    return json.dumps(shorten(episode), indent=2, ensure_ascii=False)


def render_card(report: dict, infos: dict, *, load_path: str, figures: dict[str, str],
                example: dict | None = None) -> DatasetCard:
    sections = family_sections(report)
    sources = provenance_of(report)
    outcomes = [section[family.outcome_key] for family, section in sections]
    languages = sorted({code for o in outcomes for code in map(language_code, o.get("languages", {})) if code})
    gates = [s["gate"] for s in sources if s["gate"]]
    hub_sources = [f"extended|{s['hub_id']}" for s in sources if s["hub_id"]]
    written = [s["license"] == "mit" and s["judge_kind"] == "synthetic" for s in sources]  # by this project
    judge_kinds = sorted({kind for s in sources for kind, _ in s["decided_by"]})
    licence = card_licence([_as_provenance(s) for s in sources])
    default = default_config(infos)
    card_data = DatasetCardData(
        pretty_name=PRETTY_NAME,  # the sources are named in the card's body
        license=licence,
        # the dataset card spec asks for both where the licence is `other`
        **({"license_name": LICENCE_NAME, "license_link": LICENCES_FILE} if licence == "other" else {}),
        language=languages or None,
        multilinguality=("multilingual" if len(languages) > 1 else "monolingual") if languages else None,
        language_creators=sorted({"machine-generated"} | ({"expert-generated"} if any(written) else set())
                                 | ({"found"} if not all(written) else set())),
        annotations_creators=sorted({ANNOTATION_CREATORS[k] for k in judge_kinds}) or ["no-annotation"],
        # nothing claimed for an unknown file; "original" for what this project wrote
        source_datasets=(hub_sources + (["original"] if any(written) else [])) or None,
        task_categories=["text-generation", "text-classification"],
        tags=["multi-agent", "llm-coordination", "token-usage"]
        + (["chatbot-arena"] if any("arena" in s["hub_id"] for s in sources if s["hub_id"]) else [])
        + (["failure-attribution"] if any(o.get("human_attribution") for o in outcomes) else []),
        size_categories=[size_category(sum(report["configs"][family.full_config]["episodes"]
                                           for family, _ in sections))],
        **({"extra_gated_prompt": " ".join(dict.fromkeys(gates)),
            "extra_gated_fields": {"I agree to the terms of the source dataset": "checkbox"}} if gates else {}),
        configs=[
            {
                "config_name": name,
                "data_files": [{"split": split, "path": f"data/{name}/{split}-*.parquet"} for split in infos[name].splits],
                **({"default": True} if name == default else {}),
            }
            for name in infos
        ],
    )
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    template = resources.files("dataset_card") / "template.md"
    common = dict(
        report=report,
        sources=sources,
        source=report["options"]["source"] if isinstance(report["options"]["source"], str)
        else ", ".join(report["options"]["source"]),
        judge_text=JUDGE_KIND_TEXT,
        decided_by_text=decided_by_text,
        encoding=report["options"]["encoding"],
        rank=report["options"]["rank"],
        load_path=load_path,
        token_stage=_stage(sections[0][1], "token_logs"),
        latent_stage=_stage(sections[0][1], "latents"),
        offline_recipe=offline.__doc__.strip(),
    )
    return DatasetCard.from_template(
        card_data,
        template_str=template.read_text(encoding="utf-8"),
        pretty_name=card_data.pretty_name,
        description=multi_llm_coord._DESCRIPTION,
        citation=multi_llm_coord._CITATION,
        **common,
        family_sections=sections,
        family_parts=[render_family_section(family, section, figures, common) for family, section in sections],
        totals={"rows_read": sum(s["rows_read"] for _, s in sections),
                "episodes_accepted": sum(s["episodes_accepted"] for _, s in sections),
                "rejected": sum(s["rejections"]["total"] for _, s in sections)},
        flagged={"moderation": sum(o.get("moderation_flagged") or 0 for o in outcomes),
                 "toxic_chat": sum(o.get("toxic_chat_flagged") or 0 for o in outcomes)},
        benchmark=[(family.name, {"config": family.full_config, "splits": section["splits"],
                                  "test_split": section["test_split"],
                                  "baselines": described(BENCHMARK_BASELINES),
                                  # the tables already say which targets are not scored
                                  "reading": [s for s in test_reading(section["test_split"]) if ": not scored (" not in s],
                                  "coordinator": family.coordinator_dir,
                                  "rank_curve": section.get("rank_curve") or {"skipped": "not in this report"},
                                  "rank_reading": [s for s in rank_curve_reading(section.get("rank_curve") or {"skipped": "-"})
                                                   if ": not scored (" not in s],
                                  "rank_figure": figures.get(family.figure_prefix + "rank_curve")})
                   for family, section in sections if "splits" in section],
        rank_rows=ordered_rows,
        gated=bool(gates),
        licence_id=card_data.license,
        licences_file=LICENCES_FILE,
        config_descriptions={name: text for family in FAMILIES for name, text in family.config_descriptions.items()},
        splits_of={name: list(info.splits) for name, info in infos.items()},
        default_config=default,
        example_row=example_row(report, example),
        fields=field_rows(multi_llm_coord.episode_features()),
        flat_token_fields=FLAT_TOKEN_FIELDS,
    )


def default_config(infos: dict) -> str:
    """The YAML's default config: the schema's default where the build wrote it, else the first full config."""
    if DEFAULT_CONFIG in infos:
        return DEFAULT_CONFIG
    fulls = [family.full_config for family in FAMILIES if family.full_config in infos]
    return fulls[0] if fulls else next(iter(infos))


def render_family_section(family, section: dict, figures: dict[str, str], common: dict) -> str:
    """A family's part of the card: its own template (`family.card_template`, else dataset_card/families/NAME.md)
    with its report section, its figures (`figure(name)`: the family's prefix added) and the card's common values."""
    text = family.card_template
    if text is None:
        text = (resources.files("dataset_card") / "families" / f"{family.name}.md").read_text(encoding="utf-8")
    tokens = section["tokens"]
    own = dict(
        family=family,
        section=section,
        figure=lambda name: figures.get(family.figure_prefix + name),
        token_stage=_stage(section, "token_logs"),
        latent_stage=_stage(section, "latents"),
        token_rows=[(name, tokens[name]) for name in TOTAL_NAMES]
        + [(f"output tokens of agent {position}", values)
           for position, values in tokens["output_tokens_by_agent_position"].items()],
        max_agents=section[family.outcome_key]["agents_per_episode"]["max"],
    )
    return jinja2.Template(text).render(common | own).strip()


def _stage(section: dict, name: str) -> dict | None:
    return next((stage for stage in section.get("stages", []) if stage["stage"] == name), None)


def _as_provenance(entry: dict):
    return Provenance(**{k: v for k, v in entry.items() if k in Provenance.__dataclass_fields__})
