"""Render the dataset card (README.md) of a built folder from its build report."""

from __future__ import annotations

from importlib import resources

from huggingface_hub import DatasetCard, DatasetCardData

import multi_llm_coord
from multi_llm_coord import CONFIG_DESCRIPTIONS, DEFAULT_CONFIG, FIELD_DOCS, SEED_REPORT_MAPPING

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


# Chatbot Arena data is gated on the Hub; a dataset derived from it carries the same terms and gate.
# Only the project's own embedded sample (written for this project) is published without one.
GATED_PROMPT = (
    "This dataset is derived from Chatbot Arena conversations (lmsys/chatbot_arena_conversations). User prompts "
    "are licensed CC-BY-4.0; model outputs are subject to the terms of use of each model. By accessing it you agree "
    "to the terms of the source dataset, including not attempting to identify the users who wrote the prompts."
)


def render_card(report: dict, infos: dict, *, load_path: str, figures: dict[str, str]) -> DatasetCard:
    from datasets.info import DatasetInfosDict

    from builder.stages.labels import offline

    languages = sorted({LANGUAGE_CODES[name.lower()] for name in report["outcomes"]["languages"]
                        if name.lower() in LANGUAGE_CODES})
    card_data = DatasetCardData(
        pretty_name="Multi-LLM coordination episodes",
        license="cc-by-4.0",
        language=languages or None,
        task_categories=["text-generation", "text-classification"],
        tags=["multi-agent", "llm-coordination", "chatbot-arena", "token-usage"],
        size_categories=[size_category(report["configs"]["full"]["episodes"])],
        **({} if report["options"]["source"] == "sample" else {
            "extra_gated_prompt": GATED_PROMPT,
            "extra_gated_fields": {"I agree to the terms of the source dataset": "checkbox"},
        }),
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
        source=report["options"]["source"],
        encoding=report["options"]["encoding"],
        load_path=load_path,
        config_descriptions=CONFIG_DESCRIPTIONS,
        fields=field_rows(multi_llm_coord.episode_features()),
        seed_mapping=SEED_REPORT_MAPPING,
        token_rows=[(name, stats[name]) for name in ("prompt_tokens", "output_tokens", "total_tokens",
                                                      "agent_input_tokens")]
        + [(f"output tokens of agent {position}", values)
           for position, values in stats["output_tokens_by_agent_position"].items()],
        rank=report["options"]["rank"],
        token_stage=stages["token_logs"],
        latent_stage=stages["latents"],
        debate=report.get("debate"),
        debate_latent=next((s for s in (report.get("debate") or {}).get("stages", []) if s["stage"] == "latents"),
                           None),
        figures=figures,
        max_agents=report["outcomes"]["agents_per_episode"]["max"],
        offline_recipe=offline.__doc__.strip(),
    )
