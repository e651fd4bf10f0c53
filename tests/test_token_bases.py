"""The input-token bases: one vocabulary, and the request rebuilders the sources register with it."""

import pytest

import builder.sources  # noqa: F401  (registers the sources' rebuilders)
from builder.token_bases import (INPUT_BASES, PROVIDER_USAGE, Counting, InputBasis, UnregisteredBasis,
                                 rebuilt_requests, register_requests)


def test_every_basis_is_declared_once_and_only_content_counts_are_recountable():
    assert all(name == basis.name for name, basis in INPUT_BASES.items())
    assert {n for n, b in INPUT_BASES.items() if b.recountable} == {"content_only", "recorded_reads"}


def test_each_basis_counted_from_rebuilt_requests_has_its_rebuilder_registered():
    for basis in INPUT_BASES.values():
        if basis.counting is Counting.REQUESTS:
            episode = {"input_tokens_basis": basis.name, "turns": [], "agents": [], "task": "gsm8k",
                       "metadata": {}}
            try:
                rebuilt_requests(episode)
            except UnregisteredBasis:
                pytest.fail(f"{basis.name} has no rebuilder")
            except (KeyError, TypeError, ValueError, IndexError):
                pass  # the rebuilder ran (on an episode too bare for it)


def test_an_unregistered_basis_and_a_wrong_registration_say_so():
    with pytest.raises(UnregisteredBasis, match="recorded_messages"):
        rebuilt_requests({"input_tokens_basis": "recorded_messages"})
    with pytest.raises(ValueError, match="provider_usage"):
        register_requests((PROVIDER_USAGE,), lambda episode: [])
    assert isinstance(INPUT_BASES["provider_usage"], InputBasis)
