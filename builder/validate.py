"""`validate OUT_DIR`: check a built folder against its manifest, the schema, its card and the episode
invariants.

- Files: every file the manifest lists is present and unchanged (size and sha256), none is a symbolic link,
  and nothing else is in the folder; the figures the card links to and each family's coordinator files exist.
- Configs: the declared features, the card's counts, the report's counts, and `mini` / `preview` holding the
  same episodes, taken from `full` (each family's mini config from its full config).
- Episodes: token totals add up, per-agent lists align, latents and labels are in range.

Returns a list of human-readable problems; an empty list means the folder is valid.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path

from multi_llm_coord import (
    AGREEMENT_LEVELS,
    DEFAULT_RANK,
    EVENTS,
    MEMORIES,
    PREVIEW_MAX_CHARS,
    RESPONSE_KINDS,
    TOPOLOGIES,
    TRUNCATION_MARKER,
    WINNER_NAMES,
    episode_features,
)

from builder.families import FAMILIES, config_names
from builder.layout import (CARD_FILE, COORDINATOR_INFO, COORDINATOR_TENSORS, LICENCES_FILE, LOADING_SCRIPT,
                            MANIFEST_FILE, REPORT_FILE, TRAINED_INFO, TRAINED_TENSORS)
from builder.output.folder import manifest_differences, read_manifest
from builder.output.report import ReportError, family_sections, read_report
from builder.sources.mast import FAILURE_MODES, majority_of
from builder.sources.otlp import TRACE_TASK_PREFIX
from builder.splits import group_of
from builder.stages.token_logs import content_inputs
from builder.token_bases import INPUT_BASES


def validate_folder(output_dir: Path) -> list[str]:
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return [f"{output_dir} is not a folder"]
    problems: list[str] = []
    for required in (CARD_FILE, REPORT_FILE, LOADING_SCRIPT, MANIFEST_FILE, LICENCES_FILE):
        if not (output_dir / required).is_file():
            problems.append(f"{required} is missing")
    manifest = read_manifest(output_dir)
    if manifest is not None:
        problems.extend(f"manifest: {p}" for p in manifest_differences(output_dir, manifest))
    elif (output_dir / MANIFEST_FILE).is_file():
        problems.append(f"{MANIFEST_FILE} is not a multi-llm-coord build manifest")
    report = _read_report(output_dir, problems)
    expected = expected_configs(report)
    declared = _card_configs(output_dir, problems, expected)
    problems.extend(_card_links(output_dir))
    problems.extend(_coordinator_problems(output_dir, report))
    rank = _rank_of(output_dir, report)
    present = [name for name in config_names() if name in expected or name in declared
               or (output_dir / "data" / name).exists()]
    # The small configs first, held (a few episodes each); every full config streams batch by batch, so that
    # validating (and pushing) 100k episodes holds no more than validating 1k: its copies of the small configs'
    # episodes are compared as they pass.
    mini_of_full = {family.mini_config: family.full_config for family in FAMILIES}
    previews = {family.preview_config for family in FAMILIES if family.preview_config}
    small = set(mini_of_full) | previews
    held: dict[str, dict[str, dict]] = {}
    traced: dict[str, Counter] = defaultdict(Counter)  # per source, what the trace episodes of full configs hold
    for name in sorted(present, key=lambda n: n not in small):
        files = sorted((output_dir / "data" / name).glob("*-*-of-*.parquet"))
        if not any(f.name.startswith("train-") for f in files):
            problems.append(f"config {name}: no data/{name}/train-*.parquet files")
            continue
        if not _schemas_match(name, files, problems, rank):
            continue
        copies = {small_name: held[small_name] for small_name, full_name in mini_of_full.items()
                  if full_name == name and small_name in held}
        seen: set[str] = set()
        counts: dict[str, int] = {}
        split_of_group: dict[str, str] = {}
        try:
            for split, batch in _batches(files):
                for episode in batch:
                    counts[split] = counts.get(split, 0) + 1
                    group = group_of(episode)
                    if split_of_group.setdefault(group, split) != split:
                        problems.append(f"config {name}, episode {episode['episode_id']!r}: its prompt group is in "
                                        f"{split_of_group[group]} and {split}")
                    where = f"config {name}, episode {episode['episode_id']!r}"
                    if episode["episode_id"] in seen:
                        problems.append(f"{where}: duplicate episode_id")
                    seen.add(episode["episode_id"])
                    problems.extend(f"{where}: {p}" for p in episode_problems(episode, truncated=name in previews))
                    for small_name, episodes in copies.items():
                        copy = episodes.get(episode["episode_id"])
                        if copy is not None and copy != episode:
                            problems.append(f"config {small_name}: episode {episode['episode_id']!r} differs from "
                                            f"its copy in {name}")
                    if name in small:
                        held.setdefault(name, {})[episode["episode_id"]] = episode
                    elif episode["task"].startswith(TRACE_TASK_PREFIX):
                        traced[episode["source"]].update(_trace_counts(episode))
        except Exception as error:  # noqa: BLE001 - a file that breaks while read is a finding
            problems.append(f"config {name}: unreadable Parquet ({str(error)[:200]})")
            continue
        for small_name, episodes in copies.items():
            problems.extend(f"config {small_name}: episode {episode_id!r} is not in {name}"
                            for episode_id in episodes if episode_id not in seen)
        count = sum(counts.values())
        for split in sorted(set(declared.get(name, {})) | set(counts)):
            if name in declared and declared[name].get(split) != counts.get(split, 0):
                problems.append(f"config {name}: card declares {declared[name].get(split)} {split} examples, files "
                                f"hold {counts.get(split, 0)}")
        if report and report["configs"].get(name, {}).get("episodes") not in (None, count):
            problems.append(f"config {name}: {REPORT_FILE} says {report['configs'][name]['episodes']} episodes, "
                            f"files hold {count}")
    problems.extend(_conservation_problems(report, traced))
    for family in FAMILIES:
        preview, mini = family.preview_config, family.mini_config
        if preview in held and mini in held and list(held[preview]) != list(held[mini]):
            problems.append(f"config {preview}: does not hold the episodes of {mini}")
    return problems


def _trace_counts(episode: dict) -> Counter:
    """What a trace episode holds of its LLM calls: the responses they wrote and the provider's usage."""
    replies = [r for t in episode["turns"] for r in t["responses"] if r["kind"] != "tool_result"]
    return Counter({"episodes": 1, "responses": len(replies),
                    "provider_input_tokens": sum(r["provider_input_tokens"] or 0 for r in replies),
                    "provider_output_tokens": sum(r["provider_output_tokens"] or 0 for r in replies)})


def _conservation_problems(report: dict | None, traced: dict[str, Counter]) -> list[str]:
    """The report's trace conservation held against the written data: per source, every LLM span read is one
    response in the files, the provider's usage summed over the responses is the sum over the LLM spans, and texts
    fall short of those recorded only by the counted unread_content rejections."""
    if report is None:
        return []
    problems = []
    for family, section in (report.get("families") or {}).items():
        reading = ((section or {}).get("n_agent") or {}).get("trace_conservation") or {}
        unread = ((section or {}).get("rejections") or {}).get("by_reason", {}).get("unread_content", 0)
        lost = sum(counts["texts_recorded"] - counts["texts_kept"] for counts in reading.values())
        if lost != unread:
            problems.append(f"{REPORT_FILE}: family {family}'s trace episodes lost {lost} text(s), "
                            f"{unread} counted as unread_content")
        for source, counts in reading.items():
            held = traced.get(source, Counter())
            for name, read_name in (("episodes", "episodes"), ("responses", "llm_spans"), ("responses", "responses"),
                                    ("provider_input_tokens", "provider_input_tokens"),
                                    ("provider_output_tokens", "provider_output_tokens")):
                if held[name] != counts[read_name]:
                    problems.append(f"{REPORT_FILE}: source {source!r} read {counts[read_name]} {read_name}, the "
                                    f"files hold {held[name]} {name}")
    return problems


def expected_configs(report: dict | None) -> set[str]:
    """The configs of every family the report holds a section of (none where the report cannot be read: then the
    configs the card declares or the folder holds are checked)."""
    return {name for family, _ in family_sections(report) for name in family.configs} if report else set()


VALIDATE_BATCH = 256  # episodes held at once while a full config streams past


def _batches(files: list[Path]):
    import pyarrow.parquet as pq

    for path in files:
        split = path.name.split("-", 1)[0]
        # one thread, no read-ahead: Arrow's threaded, pre-buffered reading holds several columns' pages at once
        with pq.ParquetFile(path, pre_buffer=False) as parquet:
            for batch in parquet.iter_batches(batch_size=VALIDATE_BATCH, use_threads=False):
                yield split, batch.to_pylist()


def _schemas_match(name: str, files: list[Path], problems: list[str], rank: int) -> bool:
    """Every file of the config opens and declares the schema's features (from its footer, before any row)."""
    import datasets
    import pyarrow.parquet as pq

    expected = episode_features(rank)
    for path in files:
        try:
            schema = pq.read_schema(path)
        except Exception as error:  # noqa: BLE001 - corrupt files are findings
            problems.append(f"{path.relative_to(path.parents[2])}: unreadable Parquet ({error})")
            return False
        if datasets.Features.from_arrow_schema(schema) != expected:
            problems.append(f"config {name}: {path.name} features differ from the declared schema")
            return False
    return True


def _card_links(output_dir: Path) -> list[str]:
    """Relative links of the card (figures) that point at no file of the folder."""
    import re

    try:
        text = (output_dir / CARD_FILE).read_text(encoding="utf-8")
    except OSError:
        return []
    links = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text)
    local = [link for link in links if "://" not in link and not link.startswith(("#", "mailto:"))]
    return [f"{CARD_FILE} links to {link}, which is not in the folder" for link in local
            if not (output_dir / link).is_file()]


def _coordinator_problems(output_dir: Path, report: dict | None) -> list[str]:
    """Each family's coordinator folder holds its tensors and its description, at the build's rank."""
    if not report:
        return []
    problems = []
    for _, section in family_sections(report):
        folder = section.get("coordinator")
        if not folder:
            continue
        for name in (COORDINATOR_TENSORS, COORDINATOR_INFO):
            if not (output_dir / folder / name).is_file():
                problems.append(f"{folder}/{name} is missing")
        try:
            info = json.loads((output_dir / folder / COORDINATOR_INFO).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if info.get("rank") != report["options"]["rank"]:
            problems.append(f"{folder}/{COORDINATOR_INFO}: rank {info.get('rank')} is not the build's "
                            f"{report['options']['rank']}")
        problems += _trained_problems(output_dir / folder, folder, section.get("rank_curve"))
    return problems


def _trained_problems(path: Path, folder: str, curve) -> list[str]:
    """Where the report's rank curve chose a trained coordinator, its two files are there, at the chosen rank."""
    if not isinstance(curve, dict) or not curve.get("chosen_rank"):
        return []
    missing = [f"{folder}/{name} is missing" for name in (TRAINED_TENSORS, TRAINED_INFO) if not (path / name).is_file()]
    if missing:
        return missing
    try:
        info = json.loads((path / TRAINED_INFO).read_text(encoding="utf-8"))
        rank = ("full" if info["rank"] == info["observation_dims"] else str(info["rank"])) \
            + ("" if info["prompt_input"] else "_without_prompt")  # as the rank curve names it
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"{folder}/{TRAINED_INFO} cannot be read ({error})"]
    if str(rank) != str(curve["chosen_rank"]):
        return [f"{folder}/{TRAINED_INFO}: rank {rank} is not the rank curve's chosen {curve['chosen_rank']}"]
    return []


def _card_configs(output_dir: Path, problems: list[str], expected: set[str]) -> dict[str, dict[str, int]]:
    """{config name: {split: declared num_examples}} from the README's YAML; problems for anything inconsistent."""
    from huggingface_hub import DatasetCard

    try:
        card = DatasetCard.load(output_dir / "README.md")
    except Exception as error:  # noqa: BLE001 - any parse failure is a finding, not a crash
        problems.append(f"README.md YAML does not parse: {error}")
        return {}
    data = card.data.to_dict()
    configs = {c.get("config_name"): c for c in data.get("configs") or []}
    for name in config_names():
        if name not in configs:
            if name in expected or (output_dir / "data" / name).exists():
                problems.append(f"README.md declares no config {name!r}")
            continue
        for entry in configs[name].get("data_files") or []:
            if not list(output_dir.glob(entry["path"])):
                problems.append(f"config {name}: data_files path {entry['path']!r} matches no file")
    if data.get("license") == "other" and not (data.get("license_name") and data.get("license_link")):
        problems.append("README.md says `license: other` without license_name and license_link")
    link = data.get("license_link")
    if link and "://" not in link and not (output_dir / link).is_file():
        problems.append(f"README.md's license_link {link} is not in the folder")
    if sum(1 for c in configs.values() if c.get("default")) != 1:
        problems.append("README.md must mark exactly one config as default")
    infos = data.get("dataset_info") or []
    infos = [infos] if isinstance(infos, dict) else infos
    declared: dict[str, dict[str, int]] = {}
    for info in infos:
        for split in info.get("splits") or []:
            declared.setdefault(info.get("config_name"), {})[split.get("name")] = split.get("num_examples")
    return declared


def _read_report(output_dir: Path, problems: list[str]) -> dict | None:
    if not (output_dir / REPORT_FILE).is_file():
        return None  # already said: "stats.json is missing"
    try:
        return read_report(output_dir / REPORT_FILE)
    except ReportError as error:
        problems.append(str(error).replace(f"{output_dir / REPORT_FILE}: ", f"{REPORT_FILE}: ", 1))
        return None


def _rank_of(output_dir: Path, report: dict | None) -> int:
    """The build's latent length: the report's, else (a corrupt report) what the Parquet files declare, so that a
    bad report is one finding rather than every config's features seeming to differ from the schema."""
    if report:
        return report["options"]["rank"]
    import pyarrow.parquet as pq

    for path in sorted(output_dir.glob("data/*/*.parquet")):
        try:
            turns = pq.read_schema(path).field("turns").type.value_type
            return turns.field("latent_h").type.list_size
        except Exception:  # noqa: BLE001 - an unreadable file is reported where it is read
            continue
    return DEFAULT_RANK


def _finite(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and math.isfinite(value))


def _failure_mode_problems(modes: list[dict]) -> list[str]:
    """Each annotated mode names a known final code (or none), and its majority is that of its flags."""
    problems = []
    for mode in modes:
        if mode["code"] is not None and mode["code"] not in FAILURE_MODES:
            problems.append(f"failure mode code {mode['code']!r} is not one of MAST's 14")
        if mode["majority"] != majority_of(mode["flags"]):
            problems.append(f"failure mode {mode['source_code'] or mode['title']!r}: majority {mode['majority']} "
                            f"is not that of its flags {mode['flags']}")
    return problems


def episode_problems(episode: dict, truncated: bool) -> list[str]:
    """The invariants every episode keeps: token totals add up, per-agent lists align, numbers are finite."""
    problems = []
    agent_ids = [agent["agent_id"] for agent in episode["agents"]]
    # One agent only where a person annotated the run (its failure: builder/sources/agent_teams.py keeps it)
    alone_allowed = len(agent_ids) == 1 and episode["annotations"]["mistake_agent"] is not None
    if (len(agent_ids) < 2 and not alone_allowed) or len(set(agent_ids)) != len(agent_ids):
        problems.append(f"needs two or more distinct agents (one only in a run a person annotated), has {agent_ids}")
    problems += _failure_mode_problems(episode["annotations"]["failure_modes"])
    if episode["topology"] not in TOPOLOGIES:
        problems.append(f"unknown topology {episode['topology']!r}")
        return problems
    if episode["topology"] == "pairwise_chat":
        if episode["winner"] is None or not 0 <= episode["winner"] < len(WINNER_NAMES):
            problems.append(f"winner {episode['winner']} missing or out of range")
    elif episode["winner"] is not None:
        problems.append("an N-agent episode has an arena winner; its result belongs in `outcome`")
    if not episode["turns"]:
        problems.append("has no turns")
    if episode["is_truncated"] != truncated:
        problems.append(f"is_truncated is {episode['is_truncated']}, expected {truncated}")
    if episode["memory"] not in MEMORIES:
        problems.append(f"unknown memory {episode['memory']!r}")
        return problems
    turns, expected = episode["turns"], None
    basis = INPUT_BASES.get(episode["input_tokens_basis"])
    if basis is None:
        problems.append(f"unknown input_tokens_basis {episode['input_tokens_basis']!r}")
    ordered = [follows_agents([r["agent_id"] for r in t["responses"]], agent_ids) for t in turns]
    # Template-counted requests hold template text besides the contents; only content-only counts follow the formula.
    if basis is not None and basis.recountable and all(ordered) and episode["token_totals"]:
        system = {a["agent_id"]: a["system_prompt_tokens"] or 0 for a in episode["token_totals"]["per_agent"]}
        expected = content_inputs(episode, "tokens", system)
    output = dict.fromkeys(agent_ids, 0)
    read = dict.fromkeys(agent_ids, 0)
    for position, turn in enumerate(episode["turns"]):
        if turn["turn_index"] != position:
            problems.append(f"turn {position} has turn_index {turn['turn_index']}")
        if not ordered[position]:
            problems.append(f"turn {position}: responses do not follow the agents' order (each agent at most once)")
            continue
        if any(r["kind"] not in RESPONSE_KINDS for r in turn["responses"]):
            problems.append(f"turn {position}: a response kind is not one of {', '.join(RESPONSE_KINDS)}")
        texts = [turn["prompt"] or ""] + [r["content"] for r in turn["responses"]]
        if truncated and any(len(t) > PREVIEW_MAX_CHARS + len(TRUNCATION_MARKER) for t in texts):
            problems.append(f"turn {position}: preview text longer than {PREVIEW_MAX_CHARS} characters")
        if not truncated and turn["prompt_chars"] != len(turn["prompt"] or ""):
            problems.append(f"turn {position}: prompt_chars does not match the prompt")
        for i, response in enumerate(turn["responses"]):
            agent = response["agent_id"]
            if expected is not None and response["input_tokens"] != expected[position][i]:
                problems.append(f"turn {position}, {agent}: input_tokens {response['input_tokens']} is not what its "
                                f"topology and memory give ({expected[position][i]})")
            if not truncated and response["output_chars"] != len(response["content"]):
                problems.append(f"turn {position}, {agent}: output_chars does not match the answer")
            output[agent] += response["output_tokens"]
            read[agent] += response["input_tokens"]
        if turn["consensus"] is not None and not 0 <= turn["consensus"] <= 1:
            problems.append(f"turn {position}: consensus {turn['consensus']} outside [0, 1]")
    problems.extend(latent_problems(episode, len(agent_ids)))
    problems.extend(label_problems(episode))
    totals = episode["token_totals"]
    prompt_sum = sum(turn["prompt_tokens"] for turn in episode["turns"])
    if totals["prompt_tokens"] != prompt_sum:
        problems.append(f"token_totals.prompt_tokens {totals['prompt_tokens']} != sum of turns {prompt_sum}")
    if totals["output_tokens"] != sum(output.values()):
        problems.append("token_totals.output_tokens is not the sum of the answers")
    if totals["total_tokens"] != totals["prompt_tokens"] + totals["output_tokens"]:
        problems.append("token_totals.total_tokens != prompt_tokens + output_tokens")
    if totals["agent_input_tokens"] != sum(read.values()):
        problems.append("token_totals.agent_input_tokens is not the sum of input_tokens")
    per_agent = {entry["agent_id"]: entry for entry in totals["per_agent"]}
    if list(per_agent) != agent_ids:
        problems.append("token_totals.per_agent does not follow the agents' order")
    else:
        for agent in agent_ids:
            if per_agent[agent]["output_tokens"] != output[agent] or per_agent[agent]["input_tokens"] != read[agent]:
                problems.append(f"token_totals.per_agent[{agent}] does not add up")
    for name, value in episode["communication_efficiency"].items():
        if not _finite(value) or (value is not None and value < 0):
            problems.append(f"communication_efficiency.{name} is {value}")
    return problems


def follows_agents(speakers: list[str], agent_ids: list[str]) -> bool:
    """A turn's responses: at least one, each agent at most once, in the agents' order (all of them in a debate
    round or a battle, one speaker in an agent team's turn)."""
    position = {a: i for i, a in enumerate(agent_ids)}
    indices = [position.get(s, -1) for s in speakers]
    return bool(indices) and -1 not in indices and indices == sorted(set(indices))


def latent_problems(episode: dict, agents: int) -> list[str]:
    """Latents are finite, h_1 = z_1, and N* lies in [1, number of agents]."""
    problems = []
    for position, turn in enumerate(episode["turns"]):
        z, h = turn["latent_z"], turn["latent_h"]
        if z is None or h is None or not all(map(_finite, z + h)):
            problems.append(f"turn {position}: latent_z / latent_h missing or not finite")
            continue
        if any(r["latent"] is None or not all(map(_finite, r["latent"])) for r in turn["responses"]):
            problems.append(f"turn {position}: a response latent is missing or not finite")
        if position == 0 and z != h:
            problems.append("turn 0: latent_h must equal latent_z (h_1 = z_1)")
        diversity = turn["effective_diversity"]
        if diversity is None or not _finite(diversity) or not 1 - 1e-6 <= diversity <= agents + 1e-6:
            problems.append(f"turn {position}: effective_diversity {diversity} outside [1, {agents}]")
    mean = episode["effective_diversity_mean"]
    values = [t["effective_diversity"] for t in episode["turns"]]
    if mean is None or not _finite(mean) or (values and None not in values and abs(mean - sum(values) / len(values)) > 1e-9):
        problems.append(f"effective_diversity_mean {mean} is not the mean over turns")
    return problems


def label_problems(episode: dict) -> list[str]:
    """Scores in 0-10 and class ids in range; a label is either complete or null with its reason."""
    labels, problems = episode["labels"], []
    values = [labels[k] for k in ("coordination_success", "agreement_level", "efficiency_rating", "rationale")]
    if labels["missing_reason"] is None:
        if None in values:
            problems.append("labels: a label field is null but no missing_reason is given")
        else:
            for name in ("coordination_success", "efficiency_rating"):
                if not 0 <= labels[name] <= 10:
                    problems.append(f"labels.{name} {labels[name]} outside 0-10")
            if not 0 <= labels["agreement_level"] < len(AGREEMENT_LEVELS):
                problems.append(f"labels.agreement_level {labels['agreement_level']} out of range")
    elif any(v is not None for v in values + [labels["failure_agent"], labels["failure_turn_index"]]):
        problems.append("labels: missing_reason is set but label values are present")
    agent, turn_index = labels["failure_agent"], labels["failure_turn_index"]
    if (agent is None) != (turn_index is None):
        problems.append("labels: failure_agent and failure_turn_index must both be set or both be null")
    elif turn_index is not None and not (0 <= turn_index < len(episode["turns"])
                                         and agent in [a["agent_id"] for a in episode["agents"]]):
        problems.append(f"labels: failure attribution ({agent!r}, turn {turn_index}) names no agent or turn of the episode")
    if not labels["labeler"] or not labels["labeler"]["name"]:
        problems.append("labels.labeler is not recorded")
    for position, turn in enumerate(episode["turns"]):
        events = turn["coordination_events"]
        if events is None or any(not 0 <= e < len(EVENTS) for e in events):
            problems.append(f"turn {position}: coordination_events missing or out of range")
    return problems
