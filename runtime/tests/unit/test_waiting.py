"""What `corral run` says while no offer fits (cli/waiting.py)."""

from corral.cli.waiting import why_waiting
from corral.resources import Resources

R = Resources.parse
AGENT = R("cpus:2;mem:1024;disk:1024;ports:[31000-32000]")


def test_no_agent_has_that_much_names_the_largest_totals():
    text = why_waiting(R("cpus:99;mem:32"), [AGENT], [AGENT, R("cpus:1;mem:2048")])
    assert text == ("Waiting for an offer of cpus:99;mem:32: no agent has that much: "
                    "the agents' totals are at most cpus:2;mem:2048 (2 agents)")


def test_each_agent_is_judged_on_its_own_not_on_the_largest_of_each_resource():
    text = why_waiting(R("cpus:2;mem:2048"), [], [AGENT, R("cpus:1;mem:2048")])
    assert "no agent has that much: the agents' totals are at most cpus:2;mem:2048 (2 agents)" in text


def test_a_resource_that_no_agent_has_is_named():
    assert why_waiting(R("cpus:1;gpus:1"), [], [AGENT]).endswith(
        "no agent has that much: the agents' totals are at most cpus:2 and none has gpus:1 (1 agent)")
    assert why_waiting(R("gpus:1"), [], [AGENT]).endswith("no agent has that much: none has gpus:1 (1 agent)")


def test_ranges_are_compared_too():
    text = why_waiting(R("ports:[80-80]"), [], [AGENT, R("ports:[8000-8080]")])
    assert text.endswith("no agent has that much: the agents' totals are at most ports:[8000-8080,31000-32000] (2 agents)")


def test_a_fitting_agent_in_use_shows_the_largest_offer():
    offers = [R("cpus:0.5;mem:512;disk:1024"), R("cpus:1;mem:256")]
    text = why_waiting(R("cpus:1.5;mem:256"), offers, [AGENT, AGENT])
    assert text == ("Waiting for an offer of cpus:1.5;mem:256: the largest offer seen holds cpus:1;mem:256; "
                    "the agents' totals are at most cpus:2;mem:1024 (2 agents)")


def test_no_offer_yet_and_no_agent_yet():
    assert why_waiting(R("cpus:1"), [], [AGENT]) == (
        "Waiting for an offer of cpus:1: no offers received yet; the agents' totals are at most cpus:2 (1 agent)")
    assert why_waiting(R("cpus:1"), [], []) == "Waiting for an offer of cpus:1: no agents registered"


def test_without_the_agents_totals_the_offers_alone_speak():
    assert why_waiting(R("cpus:4;mem:32"), [R("disk:10"), R("cpus:2;mem:64")], None) == (
        "Waiting for an offer of cpus:4;mem:32: the largest offer seen holds cpus:2;mem:64")
    assert why_waiting(R("cpus:4"), [R("disk:10")], None) == (
        "Waiting for an offer of cpus:4: the largest offer seen holds none of it")
    assert why_waiting(R("cpus:4"), [], None) == "Waiting for an offer of cpus:4: no offers received yet"


def test_reserved_resources_count_only_for_what_asks_for_them():
    reserved = R("cpus(ads):2;mem(ads):1024")
    assert "no agent has that much: none has cpus:1;mem:32 (1 agent)" in why_waiting(R("cpus:1;mem:32"), [], [reserved])
    assert why_waiting(R("cpus(ads):1"), [reserved], [reserved]).endswith(
        "the largest offer seen holds cpus(ads):2; the agents' totals are at most cpus(ads):2 (1 agent)")


def test_the_allocators_reasons_are_summarized_without_the_ordinary_ones():
    from corral.cli.waiting import allocator_summary

    answer = {"roles": [{"role": "dev", "reasons": [
        {"reason": "FAIR_SHARE", "agents": 1, "message": "its turn"},
        {"reason": "QUOTA_LIMIT", "agents": 2, "message": "role 'dev' consumes cpus:1 of its limit cpus:1"}]}]}
    assert allocator_summary(answer) == "the allocator says QUOTA_LIMIT on 2 agent(s): role 'dev' consumes cpus:1 of its limit cpus:1"
    assert allocator_summary({"roles": [{"role": "*", "reasons": [{"reason": "AGENT_FULL", "agents": 3, "message": "x"}]}]}) == ""
