"""Render the dataset card (README.md) of a built folder from its build report."""

from __future__ import annotations

from importlib import resources

from huggingface_hub import DatasetCard, DatasetCardData

import multi_llm_coord
from multi_llm_coord import CONFIG_DESCRIPTIONS, DEFAULT_CONFIG, FIELD_DOCS, FLAT_TOKEN_FIELDS

# Arena language names -> ISO 639-1 codes for the card's `language:` list (the Hub expects codes).
LANGUAGE_CODES = {
    "english": "en", "german": "de", "french": "fr", "spanish": "es", "portuguese": "pt", "italian": "it",
    "chinese": "zh", "japanese": "ja", "korean": "ko", "russian": "ru", "polish": "pl", "dutch": "nl",
    "arabic": "ar", "turkish": "tr", "vietnamese": "vi", "indonesian": "id", "ukrainian": "uk", "hindi": "hi",
    "swedish": "sv", "czech": "cs", "persian": "fa", "hungarian": "hu", "greek": "el", "finnish": "fi",
}


def size_category(count: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if count < bound:
            return label
    return "1M<n<10M"


def feature_type(feature) -> str:
    """A short readable type for the card's field table."""
    import datasets

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
    import datasets

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


def provenance_of(report: dict) -> list[dict]:
    """Every source of the build (pairwise, then N-agent), with the judge kind the card states for it: the
    declared one, else the one the pairwise data shows (counted from `metadata.judge`)."""
    from builder.families import FAMILIES

    found = []
    sections = [report] + [report[f.report_section] for f in FAMILIES if f.report_section and report.get(f.report_section)]
    for section in sections:
        counted = {k: n for k, n in section.get("judge_kinds_in_data", {}).items() if k != "not recorded"}
        for entry in section["provenance"]:
            kind = entry["judge_kind"] or (max(counted, key=counted.get) if counted else None)
            found.append({**entry, "judge_kind": kind})
    return found


def example_row(report: dict, episode: dict | None) -> str | None:
    """One episode of `mini` as JSON with long texts and latent vectors shortened, for the card."""
    import json

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
    from datasets.info import DatasetInfosDict

    from builder.provenance import JUDGE_KIND_TEXT, card_licence
    from builder.stages.labels import offline

    sources = provenance_of(report)
    languages = sorted({LANGUAGE_CODES[name.lower()] for name in report["outcomes"]["languages"]
                        if name.lower() in LANGUAGE_CODES})
    gates = [s["gate"] for s in sources if s["gate"]]
    hub_sources = [f"extended|{s['hub_id']}" for s in sources if s["hub_id"]]
    written = [s["license"] == "mit" and s["judge_kind"] == "synthetic" for s in sources]  # by this project
    judge_kinds = sorted({s["judge_kind"] for s in sources if s["judge_kind"]})
    card_data = DatasetCardData(
        pretty_name=f"Multi-LLM coordination episodes ({sources[0]['name']})",
        license=card_licence([_as_provenance(s) for s in sources]),
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
        + (["failure-attribution"] if (report.get("agents") or {}).get("n_agent", {}).get("human_attribution") else []),
        size_categories=[size_category(report["configs"]["full"]["episodes"])],
        **({"extra_gated_prompt": " ".join(dict.fromkeys(gates)),
            "extra_gated_fields": {"I agree to the terms of the source dataset": "checkbox"}} if gates else {}),
        configs=[
            {
                "config_name": name,
                "data_files": [{"split": "train", "path": f"data/{name}/train-*.parquet"}],
                **({"default": True} if name == DEFAULT_CONFIG else {}),
            }
            for name in infos
        ],
    )
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    template = resources.files("dataset_card") / "template.md"
    stats = report["tokens"]
    stages = {stage["stage"]: stage for stage in report["stages"]}
    return DatasetCard.from_template(
        card_data,
        template_str=template.read_text(encoding="utf-8"),
        pretty_name=card_data.pretty_name,
        description=multi_llm_coord._DESCRIPTION,
        citation=multi_llm_coord._CITATION,
        report=report,
        source=report["options"]["source"] if isinstance(report["options"]["source"], str)
        else ", ".join(report["options"]["source"]),
        sources=sources,
        judge_text=JUDGE_KIND_TEXT,
        gated=bool(gates),
        licence_id=card_data.license,
        encoding=report["options"]["encoding"],
        load_path=load_path,
        config_descriptions=CONFIG_DESCRIPTIONS,
        example_row=example_row(report, example),
        fields=field_rows(multi_llm_coord.episode_features()),
        flat_token_fields=FLAT_TOKEN_FIELDS,
        token_rows=[(name, stats[name]) for name in ("prompt_tokens", "output_tokens", "total_tokens",
                                                      "agent_input_tokens")]
        + [(f"output tokens of agent {position}", values)
           for position, values in stats["output_tokens_by_agent_position"].items()],
        rank=report["options"]["rank"],
        token_stage=stages["token_logs"],
        latent_stage=stages["latents"],
        debate=report.get("debate"),
        agents=report.get("agents"),
        debate_latent=next((s for s in (report.get("debate") or {}).get("stages", []) if s["stage"] == "latents"),
                           None),
        figures=figures,
        max_agents=report["outcomes"]["agents_per_episode"]["max"],
        offline_recipe=offline.__doc__.strip(),
    )


def _as_provenance(entry: dict):
    from builder.provenance import Provenance

    return Provenance(**{k: v for k, v in entry.items() if k in Provenance.__dataclass_fields__})
