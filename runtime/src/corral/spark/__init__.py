"""Spark on Corral: a dispatcher framework that runs Spark applications on cluster resources.

Spark 4 has no Mesos backend, so for each application the dispatcher launches
Spark's own standalone daemons as Corral tasks: a Spark master, workers sized
from accepted offers, and the driver (spark-submit in client mode inside its
task, as Spark's MesosClusterDispatcher ran it).  Modules:

- `sparkconf`    Spark properties → an `AppSpec` (memory, cores, role, mode), validated
- `constraints`  `spark.mesos.constraints` parsing and matching against offer attributes
- `protocol`     Spark's REST submission protocol messages (CreateSubmissionRequest, ...)
- `model`        a submission, its attempts and tasks, and their JSON for persistence
- `planner`      pure offer matching: which tasks to launch on which offer, or why not
- `state`        the dispatcher's pure state machine (queue, retries, fine-grained scaling)
- `store`        persistence of the queue: a local file or ZooKeeper
- `launcher`     runs inside each task: picks ports, starts the Spark daemon, reports back
- `dispatcher`   the daemon: REST server, web page, scheduler loop, Spark observer

The spark-perf K-means stage that runs through the dispatcher is `corral.sparkperf`.
"""
