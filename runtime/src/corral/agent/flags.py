"""The flags of `corral agent`, each with the parser that turns its value into what the agent uses."""

from __future__ import annotations

from corral import config
from corral.agent.container_info import parse_containerizers
from corral.agent.isolators import parse_isolation
from corral.agent.isolators.devices import parse_gpu_indices
from corral.attributes import Attributes
from corral.config import Flag
from corral.leader.detector import parse_master
from corral.resources import Resources
from corral.security import flags as security_flags


AGENT_FLAGS = [
    Flag("master", config.text(parse_master), "127.0.0.1:5050", "Master address host:port (or zk://host:port,.../path)"),
    Flag("ip", config.as_str, "127.0.0.1", "IP address to listen on"),
    Flag("port", config.as_port, 5051, "Port to listen on (0 picks a free one)"),
    Flag("hostname", config.as_optional_str, None, "Hostname advertised to the master (default: the IP)"),
    Flag("work_dir", config.as_str, "/var/lib/corral/agent", "Directory for sandboxes and checkpoints"),
    Flag("resources", config.optional(Resources.parse), None,
         "Resources, e.g. cpus:4;mem:8192;cpus(ads):2;ports:[31000-32000] (the rest is detected)"),
    Flag("attributes", Attributes.parse, "", "Attributes, e.g. rack:r1;os:debian"),
    Flag("isolation", config.text(parse_isolation), "auto",
         "auto (cgroups when writable), cgroups, posix, or Mesos's names: "
         "cgroups/cpu,cgroups/mem[,cgroups/pids][,cgroups/devices][,gpu/nvidia][,disk/du]"),
    Flag("nvidia_gpu_devices", config.optional(config.text(parse_gpu_indices)), None,
         "gpu/nvidia: the GPUs (nvidia-smi indices, e.g. 0,1) the agent offers; default: 0 to gpus-1"),
    Flag("container_disk_watch_interval", config.as_duration, 15.0, "disk/du: seconds between measurements of each sandbox"),
    Flag("enforce_container_disk_quota", config.as_bool, False, "disk/du: fail the tasks of a sandbox over its disk resources"),
    Flag("containerizers", config.text(parse_containerizers), "mesos",
         "mesos, or mesos,docker to run tasks in container images (from local storage) with --docker"),
    Flag("docker", config.as_str, "podman", "The docker-compatible CLI that runs container images"),
    Flag("docker_bridge_network", config.as_str, "podman",
         "The --docker network of a BRIDGE container (podman's own bridge by default, as Docker's 'bridge')"),
    Flag("cgroups_enable_cfs", config.as_bool, False, "Hard-limit CPU with CFS quotas (cgroups isolation)"),
    Flag("cgroups_pids_max", config.as_non_negative_int, 0,
         "Most processes and threads a container may have (pids.max; cgroups v2 isolation); 0: no limit"),
    Flag("executor_registration_timeout", config.as_duration, 60.0, "Seconds an executor has to subscribe"),
    Flag("executor_reregistration_timeout", config.as_duration, 20.0, "After an agent restart, seconds executors have to re-subscribe"),
    Flag("executor_shutdown_grace_period", config.as_duration, 5.0, "Seconds an executor has to exit after SHUTDOWN"),
    Flag("status_update_retry_interval", config.as_duration, 10.0, "First retry interval of unacknowledged status updates"),
    Flag("registration_backoff", config.as_duration, 1.0, "Longest wait between attempts to reach the master"),
    Flag("recover", config.choice("reconnect", "cleanup"), "reconnect", "On restart: reconnect to running executors, or cleanup (kill them)"),
    Flag("recovery_timeout", config.as_duration, 900.0, "How long executors wait for a restarted agent"),
    Flag("log_level", config.as_str, "INFO", "DEBUG, INFO, WARNING or ERROR"),
]
AGENT_FLAGS += security_flags.AGENT_FLAGS
