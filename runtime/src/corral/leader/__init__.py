"""Who leads, as Mesos splits it:

- `contender`  the master's candidacy (`MasterContender`: standalone, or through ZooKeeper),
               which also owns the master's registry;
- `detector`   where the leader is, for agents, schedulers, the dispatcher and the CLI
               (`MasterDetector`: a fixed `host:port`, or a `zk://` URL); it imports nothing
               of the master;
- `zookeeper`  the `zk://` URL (`ZooKeeperURL`, its only parser) and the znode layout both use.

This package's `__init__` imports nothing, so that a client importing the detector does not
load the master.
"""
