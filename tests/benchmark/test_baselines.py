"""One table of baselines: every row any table of the report scores is a feature set of builder.benchmark.baselines,
fitted by its classifier there, and a name means one thing in every table."""

from builder.benchmark.baselines import (BENCHMARK_BASELINES, BY_NAME, FAILURE_MODE_BASELINES, FEATURE_SETS,
                                         PROBE_BASELINES, RANK_CURVE_BASELINES, UNTRAINED_STATES, classifier_of, scored_on)


def test_the_table_names_each_feature_set_once_and_the_tables_read_it():
    names = [feature_set.name for feature_set in FEATURE_SETS]
    assert len(names) == len(set(names))
    for table in (PROBE_BASELINES, BENCHMARK_BASELINES, RANK_CURVE_BASELINES, FAILURE_MODE_BASELINES):
        assert all(BY_NAME[name].baseline for name in table)
    assert not any(BY_NAME[name].baseline for name in UNTRAINED_STATES)
    # the two prompt baselines read different features: two names
    assert "embedding" in BY_NAME["prompt_only"].reads and "hashed" in BY_NAME["prompt_words"].reads
    assert classifier_of("ordered_latents") == "antisymmetric" and classifier_of("your_vectors") == "logistic"
    assert not scored_on("ordered_latents", "decisive") and scored_on("ordered_latents", "side")


def test_every_row_of_every_table_of_a_build_is_in_the_table(sample_build):
    _, report = sample_build
    scored = 0
    for name, section in report["families"].items():
        if section is None:
            continue
        probe = section["latent_probe"]
        rows = {"probe": set(probe.get("features", {})), "benchmark": set(), "rank curve": set()}
        for target in probe.get("targets", {}).values():
            rows["probe"] |= set(target.get("results", {}))
        for target in section["test_split"].values():
            if isinstance(target, dict):
                rows["benchmark"] |= set(target.get("results", {}))
        for target in (section.get("rank_curve") or {}).get("targets", {}).values():
            rows["rank curve"] |= {row for row, scores in target.get("results", {}).items() if not scores["trained"]}
        scored += bool(rows["benchmark"])
        for table, found in rows.items():
            assert found <= set(BY_NAME), (name, table, found - set(BY_NAME))
        # each prompt baseline in the tables that can compute it, never the other's name
        assert "prompt_only" not in rows["benchmark"] and "prompt_words" not in rows["probe"] | rows["rank curve"]
        assert probe.get("features", {}).get("majority_class", BY_NAME["majority_class"].reads) == \
            BY_NAME["majority_class"].reads
    assert scored  # the sample's arena battles are scored
