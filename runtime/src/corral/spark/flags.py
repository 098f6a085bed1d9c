"""The flags of `corral spark-dispatcher`, each with the parser that turns its value into what the dispatcher uses."""

from __future__ import annotations

import getpass
import sys

from corral import config
from corral.config import Flag
from corral.leader.detector import parse_master
from corral.leader.zookeeper import ZooKeeperURL
from corral.security import flags as security_flags
from corral.security.credentials import parse_principal
from corral.spark.sparkconf import MODES


DISPATCHER_FLAGS = [
    Flag("master", config.text(parse_master), "127.0.0.1:5050", "Corral master host:port, or zk://host:port,.../path of the masters"),
    Flag("ip", config.as_str, "127.0.0.1", "IP address to listen on"),
    Flag("port", config.as_port, 7077, "Port of the REST submission server, the API and the web page"),
    Flag("advertise", config.as_optional_str, None, "host:port where agents reach the dispatcher (default: ip:port)"),
    Flag("work_dir", config.as_str, "/var/lib/corral/spark-dispatcher", "Directory of the queue file (without --zk)"),
    Flag("zk", config.optional(ZooKeeperURL.parse), None, "Keep the queue in ZooKeeper: zk://host:port,.../path"),
    Flag("name", config.as_str, "Spark Cluster", "Framework name"),
    Flag("user", config.as_str, getpass.getuser(), "User the Spark tasks run as"),
    Flag("roles", config.as_roles, ["*"], "Roles the dispatcher serves (the first is the default role of applications)"),
    Flag("failover_timeout", config.as_duration, 7 * 86400.0, "How long the master keeps the tasks of a disconnected dispatcher"),
    Flag("mode", config.choice(*MODES, fold_case=True), "coarse", "Default scheduling mode of applications: coarse or fine"),
    Flag("max_drivers", config.as_non_negative_int, 0, "Applications launching or running at once (0: no limit)"),
    Flag("queue_capacity", config.as_non_negative_int, 200, "Applications waiting or running at once"),
    Flag("retained_drivers", config.as_non_negative_int, 200, "Finished applications kept for status queries and the web page"),
    Flag("retry_wait_max", config.as_duration, 60.0, "Longest backoff between retries of a supervised driver"),
    Flag("max_retries", config.as_non_negative_int, 0, "Retries of a supervised driver (0: no limit)"),
    Flag("launch_timeout", config.as_duration, 180.0, "An attempt whose Spark master or driver is not up by then fails"),
    Flag("executor_idle_timeout", config.as_duration, 60.0, "Fine-grained: Spark's executor idle timeout (Spark's default)"),
    Flag("worker_idle_timeout", config.as_duration, 2.0, "Fine-grained: release an executor-less worker after this"),
    Flag("refuse_seconds", config.as_duration, 10.0, "Filter on offers declined while no application waits"),
    Flag("master_cpus", config.as_positive_number, 0.1, "cpus of each application's Spark master task"),
    Flag("master_mem", config.as_positive_number, 512.0, "mem (MB) of each application's Spark master task"),
    Flag("worker_daemon_mem", config.as_positive_number, 384.0, "mem (MB) of a worker task beyond its executors"),
    Flag("daemon_memory", config.as_str, "256m", "SPARK_DAEMON_MEMORY (heap) of the Spark master and workers"),
    Flag("daemon_java_opts", config.as_str, "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
         "SPARK_DAEMON_JAVA_OPTS of the Spark master and workers"),
    Flag("python", config.as_str, sys.executable, "Python with pyspark on the agents"),
    Flag("spark_home", config.as_optional_str, None, "SPARK_HOME on the agents (default: the installed pyspark's)"),
    Flag("poll_interval", config.as_duration, 1.0, "Seconds between looks at running applications' Spark master and driver"),
    Flag("principal", config.optional(parse_principal), None, "Authenticate to the masters as this principal (HTTP Basic)"),
    Flag("secret", config.as_optional_str, None, "The principal's secret (prefer --credential)", secret=True),
    Flag("credential", security_flags.credential, None, "JSON file with the principal and secret to authenticate with"),
    Flag("master_ca_file", config.as_optional_str, None, "CA bundle of masters serving TLS (talk HTTPS to them)"),
    Flag("log_level", config.as_str, "INFO", "DEBUG, INFO, WARNING or ERROR"),
]
