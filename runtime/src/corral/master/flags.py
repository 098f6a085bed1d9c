"""The flags of `corral master`, each with the parser that turns its value into what the master uses."""

from __future__ import annotations

from corral import config
from corral.allocator import allocator_name, load_allocator_class
from corral.config import Flag
from corral.leader.zookeeper import ZooKeeperURL
from corral.resources import DEFAULT_MIN_ALLOCATABLE, parse_min_allocatable
from corral.security import flags as security_flags

MASTER_FLAGS = [
    Flag("ip", config.as_str, "127.0.0.1", "IP address to listen on"),
    Flag("port", config.as_port, 5050, "Port to listen on (0 picks a free one)"),
    Flag("hostname", config.as_optional_str, None, "Hostname advertised to agents and frameworks (default: the IP)"),
    Flag("work_dir", config.as_str, "/var/lib/corral/master", "Directory for the master's registry file"),
    Flag("zk", config.optional(ZooKeeperURL.parse), None, "ZooKeeper URL zk://host:port,.../path for leader election and the registry"),
    Flag("quorum", config.as_int, 1, "Masters that must be up for the leader to allocate (with --zk)"),
    Flag("zk_session_timeout", config.as_duration, 10.0, "ZooKeeper session timeout: how fast a dead leader is replaced"),
    Flag("allocator", config.text(load_allocator_class), "drf", "drf, priority, or package.module:Class", show=allocator_name),
    Flag("weights", config.as_weights, {}, "Role weights, e.g. ads=2,dev=1"),
    Flag("roles", config.as_roles, None, "Whitelist of roles frameworks may use (default: any)"),
    Flag("allocation_interval", config.as_duration, 1.0, "Seconds between full allocation rounds"),
    Flag("min_allocatable_resources", config.text(parse_min_allocatable), DEFAULT_MIN_ALLOCATABLE,
         "Smallest offer, e.g. cpus:0.01|mem:32", show=lambda alternatives: "|".join(map(str, alternatives))),
    Flag("offer_timeout", config.as_duration, None, "Rescind offers not used within this time (default: never)"),
    Flag("heartbeat_interval", config.as_duration, 15.0, "Seconds between HEARTBEAT events to schedulers"),
    Flag("agent_ping_timeout", config.as_duration, 15.0, "Seconds between agent pings (and to answer one)"),
    Flag("max_agent_ping_timeouts", config.as_int, 5, "Missed pings before an agent is unreachable"),
    Flag("agent_reregister_timeout", config.as_duration, 600.0, "After a failover, seconds agents have to re-register"),
    Flag("cluster", config.as_str, "corral", "Human-readable cluster name"),
    Flag("log_level", config.as_str, "INFO", "DEBUG, INFO, WARNING or ERROR"),
]
MASTER_FLAGS += security_flags.MASTER_FLAGS
