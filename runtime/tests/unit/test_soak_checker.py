"""The fault soak's checker (runtime/benchmarks/soak/checker.py): each guarantee, and what breaks it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "soak"))
from checker import check  # noqa: E402

LAUNCH = {"kind": "launch", "t": 10.0, "task": "t1", "agent_id": "A", "framework": "default", "incarnation": 0}


def update(state, t, uid="u", source="SOURCE_EXECUTOR", **extra):
    return {"kind": "update", "t": t, "task": "t1", "state": state, "uuid": uid and f"{uid}-{state}", "source": source, **extra}


def fault(name, t, healed, **extra):
    return {"kind": "fault", "fault": name, "t": t, "healed": healed, **extra}


def rules(history):
    return [v.rule for v in check(history).violations]


def test_a_task_that_runs_and_finishes_is_fine():
    verdict = check([LAUNCH, update("TASK_RUNNING", 11), update("TASK_FINISHED", 12), {"kind": "run", "t": 11, "task": "t1"}])
    assert verdict.violations == [] and verdict.summary() == "soak: 1 tasks, 1 terminal, 0 lost, 0 duplicated, 0 violations"


def test_a_task_without_a_terminal_state_is_lost():
    verdict = check([LAUNCH, update("TASK_RUNNING", 11)])
    assert verdict.lost == 1 and rules([LAUNCH, update("TASK_RUNNING", 11)]) == ["every task ends"]


def test_two_terminal_states_and_an_update_after_the_end_are_violations():
    history = [LAUNCH, update("TASK_FINISHED", 12), update("TASK_FAILED", 13), fault("kill_agent", 11, 12, agent_ids=["A"])]
    assert sorted(rules(history)) == ["one terminal state", "updates in order"]


def test_the_master_s_provisional_task_lost_may_be_followed_by_the_agent_s_word():
    history = [LAUNCH, update("TASK_RUNNING", 11), update("TASK_LOST", 13, uid=None, source="SOURCE_MASTER"),
               update("TASK_KILLED", 14), fault("kill_agent", 12, 13, agent_ids=["A"])]
    verdict = check(history)
    assert verdict.violations == [] and verdict.superseded == 1 and verdict.terminal == {"TASK_KILLED": 1}


def test_loss_needs_a_fault_of_the_task_s_own_agent():
    lost = [LAUNCH, update("TASK_LOST", 13, uid=None, source="SOURCE_MASTER")]
    assert rules(lost + [fault("kill_agent", 12, 13, agent_ids=["B"])]) == ["loss only where an agent went away"]
    assert rules(lost + [fault("kill_agent", 12, 13, agent_ids=["A"])]) == []


def test_a_launch_on_offers_rescinded_with_the_master_s_zookeeper_is_lost_with_it():
    lost = [LAUNCH, update("TASK_LOST", 10.1, uid=None, source="SOURCE_MASTER", reason="REASON_INVALID_OFFERS")]
    assert rules(lost) == ["loss only where an agent went away"]
    assert rules(lost + [fault("zk_kill_server", 8, 12)]) == []


def test_a_kill_that_only_a_master_failover_explains_is_a_violation():
    history = [LAUNCH, update("TASK_RUNNING", 11), update("TASK_KILLED", 13), fault("kill_leader", 12, 13)]
    assert rules(history) == ["loss only where an agent went away"]


def test_tasks_of_a_framework_removed_past_its_failover_timeout_are_the_master_s_to_end():
    removed = {"kind": "removed", "t": 20, "framework": "default", "incarnation": 0}
    verdict = check([LAUNCH, update("TASK_RUNNING", 11), removed])
    assert verdict.violations == [] and verdict.summary() == "soak: 1 tasks, 1 terminal, 0 lost, 0 duplicated, 0 violations"
    leftover = {"kind": "leftover", "t": 30, "task": "t1", "agent": 0, "state": "TASK_RUNNING"}
    verdict = check([LAUNCH, update("TASK_RUNNING", 11), removed, leftover])
    assert [v.rule for v in verdict.violations] == ["every task ends"] and verdict.lost == 1


def test_a_task_left_running_after_the_soak_is_a_violation():
    leftover = {"kind": "leftover", "t": 30, "task": "t1", "agent": 0, "state": "TASK_RUNNING"}
    assert rules([LAUNCH, update("TASK_RUNNING", 11), update("TASK_FINISHED", 12), leftover]) == ["nothing left running"]


def test_a_command_that_ran_twice_and_a_redelivery_without_a_fault():
    twice = [LAUNCH, update("TASK_FINISHED", 12)] + [{"kind": "run", "t": 11, "task": "t1"}] * 2
    assert check(twice).duplicated == 1 and rules(twice) == ["no task runs twice"]
    again = [LAUNCH, update("TASK_RUNNING", 11), update("TASK_RUNNING", 30), update("TASK_FINISHED", 31)]
    assert rules(again) == ["acknowledged once"]
    assert rules(again + [fault("kill_leader", 25, 27)]) == []
    # A copy the agent sent before the framework's acknowledgement reached it (its retry interval, under load):
    in_flight = [LAUNCH, update("TASK_RUNNING", 11), update("TASK_RUNNING", 11.2), update("TASK_FINISHED", 12)]
    assert rules(in_flight) == []


def test_the_master_s_answer_about_a_task_that_already_finished_is_not_a_loss():
    history = [LAUNCH, update("TASK_RUNNING", 11), update("TASK_FINISHED", 12),
               update("TASK_LOST", 12.1, uid=None, source="SOURCE_MASTER", reason="REASON_RECONCILIATION")]
    assert check(history).violations == [] and check(history).terminal == {"TASK_FINISHED": 1}


def test_5xx_answers_fail_except_no_leader_while_a_master_fault_heals():
    answer = {"kind": "http", "t": 50.0, "url": "m/state", "status": 503, "body": "No leading master is elected yet"}
    assert rules([answer]) == ["no 5xx"]
    assert rules([answer, fault("pause_leader", 45, 49)]) == []
    assert rules([dict(answer, status=500, body="Internal Server Error"), fault("pause_leader", 45, 49)]) == ["no 5xx"]


def test_offers_after_the_soak_add_up_to_the_agents_totals():
    short = {"kind": "final_offers", "t": 99, "agents": {"A": ({"cpus": 1.9, "mem": 1024}, {"cpus": 2, "mem": 1024})}}
    assert rules([short]) == ["resources return"]


def test_a_launch_lost_with_a_deposed_leader_is_learnt_by_reconciliation():
    unknown = update("TASK_LOST", 13, uid=None, source="SOURCE_MASTER", reason="REASON_RECONCILIATION")
    assert rules([LAUNCH, unknown, fault("pause_leader", 9, 12)]) == []
    assert rules([LAUNCH, unknown]) == ["loss only where an agent went away"]


def test_a_reconciliation_answer_gives_the_latest_state_ahead_of_the_stream():
    answer = update("TASK_FINISHED", 12, uid=None, source="SOURCE_MASTER", reason="REASON_RECONCILIATION")
    # (the stream still redelivers its unacknowledged TASK_RUNNING, as Mesos's agents do)
    assert rules([LAUNCH, answer, update("TASK_RUNNING", 13), update("TASK_FINISHED", 14)]) == []
    behind = update("TASK_RUNNING", 15, uid=None, source="SOURCE_MASTER", reason="REASON_RECONCILIATION")
    assert rules([LAUNCH, update("TASK_FINISHED", 14), behind]) == ["reconciliation reports the latest state"]


def app(state, t, retries=0, app_id="d1"):
    return {"kind": "spark_state", "t": t, "submission": app_id, "state": state, "retries": retries, "reason": ""}


SUBMIT = {"kind": "spark_submit", "t": 10.0, "submission": "d1", "marker": "/m"}
DRIVER_RUN = {"kind": "spark_run", "t": 11.0, "submission": "d1"}


def test_a_spark_application_counts_as_a_task_that_ends_once():
    verdict = check([SUBMIT, app("QUEUED", 10), app("RUNNING", 11), app("FINISHED", 20), DRIVER_RUN])
    assert verdict.violations == [] and verdict.applications == {"FINISHED": 1}
    assert verdict.summary() == "soak: 1 tasks, 1 terminal, 0 lost, 0 duplicated, 0 violations"


def test_a_spark_application_that_never_ends_is_lost():
    verdict = check([SUBMIT, app("RUNNING", 11)])
    assert verdict.lost == 1 and [v.rule for v in verdict.violations] == ["every task ends"]


def test_a_spark_application_fails_only_with_a_fault():
    failed = [SUBMIT, app("RUNNING", 11), app("FAILED", 20)]
    assert rules(failed) == ["nothing killed by a failover"]
    assert rules(failed + [fault("kill_agent", 15, 16, agent_ids=["A"])]) == []
    assert rules([SUBMIT, app("FINISHED", 20), app("RUNNING", 21)]) == ["one terminal state"]


def test_a_driver_runs_once_per_attempt():
    twice = [SUBMIT, DRIVER_RUN, dict(DRIVER_RUN, t=15.0)]
    assert rules(twice + [app("FINISHED", 20)]) == ["no task runs twice"]
    assert check(twice + [app("FINISHED", 20)]).duplicated == 1
    assert rules(twice + [app("RETRYING", 14, retries=1), app("FINISHED", 20, retries=1)]) == []


def test_what_the_poller_saw_go_away_explains_a_loss_and_is_counted_apart():
    lost = [LAUNCH, update("TASK_LOST", 13, uid=None, source="SOURCE_MASTER", reason="REASON_TASK_UNKNOWN")]
    seen = {"kind": "observed", "fault": "agent reconnected to its leader", "t": 10, "healed": 12.5, "agent_ids": ["A"]}
    verdict = check(lost + [seen])
    assert verdict.violations == [] and verdict.observed == {"agent reconnected to its leader": 1}
    assert verdict.faults == {}
