"""The machinery the runtime's test suites share; each suite's conftest.py holds only its fixtures.

    cluster          real `corral master` / `corral agent` processes on 127.0.0.1 (`Cluster`,
                     `Daemon`), `wait_for`, `free_port`, `http_json`
    zookeeper        a real ZooKeeper server or ensemble (`ZooKeeperEnsemble`)
    raw_scheduler    a bare v1 scheduler client over http.client (`RawScheduler`, `task`, `launch`)
    pymesos_harness  frameworks written with pymesos (`RecordingScheduler`, `pymesos_framework`)
    opskit           secured clusters: credentials, ACLs, a throwaway CA, HTTP that returns
                     errors, `SecureCluster`, `AuthScheduler`
    sparkkit         the Spark dispatcher process, its REST calls, small Spark applications
    browser_kit      headless Chromium (Playwright) and a `corral local` cluster for the web UI
    nodevm           a node as a QEMU virtual machine (TCG) booted from the node image's disk
    fakes            a fake clock and a recording connection for the pure state machines

pytest puts runtime/tests on sys.path (`pythonpath` in runtime/pyproject.toml), so a test
module says `from support.cluster import wait_for` or `from support import opskit`.
"""
