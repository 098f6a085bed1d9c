import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral import config
from corral.agent.flags import AGENT_FLAGS
from corral.allocator import PriorityAllocator, check_allocator_spec
from corral.config import ConfigError, Flag
from corral.leader.zookeeper import ZooKeeperURL
from corral.master.flags import MASTER_FLAGS
from corral.resources import Resources
from corral.security.credentials import CredentialsError, credentials_from_json, parse_credentials
from corral.spark.flags import DISPATCHER_FLAGS

FLAGS = [
    Flag("port", config.as_port, 5050, "port"),
    Flag("weights", config.as_weights, {}, "weights"),
    Flag("timeout", config.as_duration, 5.0, "timeout"),
    Flag("secret", config.as_optional_str, None, "secret", secret=True),
]


def test_precedence_cli_over_env_over_file_over_default(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("port: 1000\nweights: {ads: 2}\ntimeout: 2mins\n")
    values = config.resolve(FLAGS, {"port": None}, env={"CORRAL_PORT": "2000"}, config_path=str(path))
    assert values == {"port": 2000, "weights": {"ads": 2.0}, "timeout": 120.0, "secret": None}
    values = config.resolve(FLAGS, {"port": "3000"}, env={"CORRAL_PORT": "2000"}, config_path=str(path))
    assert values["port"] == 3000


@pytest.mark.parametrize(
    "cli, env, message",
    [
        ({"port": "70000"}, {}, "--port: 70000 is not a port number"),
        ({}, {"CORRAL_WEIGHTS": "ads"}, "CORRAL_WEIGHTS: 'ads' is not role=weight"),
        ({"weights": "ads=0"}, {}, "weight of 'ads' must be > 0"),
        ({"timeout": "soon"}, {}, "--timeout: 'soon' is not a duration"),
    ],
)
def test_bad_values_name_the_flag_and_source(cli, env, message):
    with pytest.raises(ConfigError, match=message):
        config.resolve(FLAGS, cli, env=env)


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        config.resolve(FLAGS, {}, env={}, config_path=str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        config.resolve(FLAGS, {}, env={}, config_path=str(bad))


def test_secrets_are_masked_in_public_flags():
    shown = config.public({"port": 5050, "secret": "hunter2", "weights": {"a": 2.0}}, FLAGS)
    assert shown == {"port": "5050", "secret": "*****", "weights": "a=2.0"}


# -- each flag parsed once, into what the daemon uses ---------------------------------------


def _resolve(flags, cli=None, env=None, config_path=None):
    return config.resolve(flags, cli or {}, env=env or {}, config_path=config_path)


def test_the_daemons_flags_parse_into_the_objects_they_use(tmp_path):
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"credentials": [{"principal": "ops", "secret": "s3cret"}]}))
    creds.chmod(0o600)
    master = _resolve(MASTER_FLAGS, {"zk": "zk://u:pw@h1:2181,h2:2181/corral", "allocator": "priority",
                                     "credentials": str(creds), "acls": '{"permissive": false}'})
    assert master["zk"] == ZooKeeperURL("h1:2181,h2:2181", "/corral", "u:pw")
    assert master["allocator"] is PriorityAllocator
    assert master["min_allocatable_resources"] == [Resources.parse("cpus:0.01"), Resources.parse("mem:32")]
    assert master["credentials"].check_basic("ops", "s3cret") and not master["acls"].permissive
    shown = config.public(master, MASTER_FLAGS)
    assert shown["zk"] == "zk://h1:2181,h2:2181/corral"  # the ZooKeeper password stays out of /flags
    assert (shown["allocator"], shown["min_allocatable_resources"], shown["credentials"]) == (
        "priority", "cpus:0.01|mem:32", str(creds))
    assert "s3cret" not in json.dumps(shown)

    agent = _resolve(AGENT_FLAGS, {"master": "zk://h1:2181/corral", "resources": "cpus:2;ports:[1-9]"},
                     env={"CORRAL_ATTRIBUTES": "rack:r1;cores:8;zones:{a,b};ids:[1-4]"})
    assert agent["master"] == ZooKeeperURL("h1:2181", "/corral")
    assert agent["resources"] == Resources.parse("cpus:2;ports:[1-9]")
    assert agent["attributes"].to_json() == [
        {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
        {"name": "cores", "type": "SCALAR", "scalar": {"value": 8.0}},
        {"name": "zones", "type": "SET", "set": {"item": ["a", "b"]}},
        {"name": "ids", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 4}]}},
    ]
    assert config.public(agent, AGENT_FLAGS)["attributes"] == "rack:r1;cores:8;zones:{a,b};ids:[1-4]"
    assert _resolve(AGENT_FLAGS, {"master": "http://m1:5050/"})["master"] == "m1:5050"

    dispatcher = _resolve(DISPATCHER_FLAGS, {"zk": "zk://u:pw@h1:2181/corral/spark"})
    assert dispatcher["zk"].auth == "u:pw" and dispatcher["zk"].path == "/corral/spark"


@pytest.mark.parametrize("source", ["cli", "yaml", "env"])
def test_a_malformed_attribute_names_the_flag_and_where_it_came_from(tmp_path, source):
    path = tmp_path / "agent.yaml"
    path.write_text("attributes: 'zone:[a-b]'\n")
    cli, env, config_path, where = {}, {}, None, {"cli": "--attributes", "yaml": f"{path}: attributes",
                                                  "env": "CORRAL_ATTRIBUTES"}[source]
    if source == "cli":
        cli = {"attributes": "zone:[a-b]"}
    elif source == "env":
        env = {"CORRAL_ATTRIBUTES": "zone:[a-b]"}
    else:
        config_path = str(path)
    with pytest.raises(ConfigError) as raised:
        _resolve(AGENT_FLAGS, cli, env, config_path)
    assert str(raised.value) == f"{where}: 'zone:[a-b]': bad range 'a-b' (expected begin-end)"


@pytest.mark.parametrize(
    "flags, cli, message",
    [
        (MASTER_FLAGS, {"zk": "zk://h1/corral"}, "--zk: 'zk://h1/corral': 'h1' is not host:port"),
        (MASTER_FLAGS, {"zk": "zk://h1:2181/"}, "--zk: 'zk://h1:2181/' needs a znode path"),
        (DISPATCHER_FLAGS, {"zk": "h1:2181/spark"}, "--zk: 'h1:2181/spark' is not zk://host:port"),
        (AGENT_FLAGS, {"master": "m1"}, "--master: 'm1' is not host:port or zk://host:port,.../path"),
        (AGENT_FLAGS, {"attributes": "a:1;a:2"}, "--attributes: attribute 'a' is given twice"),
        (MASTER_FLAGS, {"allocator": "fair"}, r"--allocator: must be drf, priority or package.module:Class \(got 'fair'\)"),
        (MASTER_FLAGS, {"min_allocatable_resources": "cpus:x"}, "--min_allocatable_resources: resources: 'cpus:x'"),
        (AGENT_FLAGS, {"attributes": "os:deb\nian"}, r"--attributes: .*\\n"),  # one line, whatever the value holds
    ],
)
def test_malformed_values_stop_resolution(flags, cli, message):
    with pytest.raises(ConfigError, match=message) as raised:
        _resolve(flags, cli)
    assert len(str(raised.value).splitlines()) == 1


def test_credentials_files_are_checked_as_the_master_reads_them(tmp_path):
    def load(content):
        path = tmp_path / "credentials.json"
        path.write_text(content)
        path.chmod(0o600)
        with pytest.raises(ConfigError) as raised:
            _resolve(MASTER_FLAGS, {"credentials": str(path)})
        return str(raised.value).removeprefix(f"--credentials: {path}: ")

    entry = {"principal": "a:b", "secret": "s3cret"}
    assert load(json.dumps({"credentials": [entry]})) == (
        "entry 0: principal 'a:b' cannot contain ':' (HTTP Basic ends the principal at the first ':')")
    assert load("a:b s3cret\n").startswith("line 1: principal 'a:b' cannot contain ':'")
    assert load(json.dumps([{"principal": "ops", "secret": "x"}] * 2)) == "entry 1: principal ops is listed twice"
    assert load(json.dumps([{"principal": "ops", "password": "s3cret"}])) == (
        "entry 0: expected exactly the keys principal and secret")
    assert load(json.dumps([{"principal": "ops", "secret": ""}])) == "entry 0 (ops): the secret must be a non-empty string"


# -- fuzzing: every input parses or is a one-line ConfigError --------------------------------

FUZZ = settings(max_examples=int(os.environ.get("CORRAL_FUZZ_EXAMPLES", "300")), deadline=None,
                derandomize=not os.environ.get("CORRAL_FUZZ_RANDOM"), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Pieces of the flags' grammars, so that generated text reaches past the first check.
PIECES = ["rack", "r1", "a", "zk://", "u:pw@", "h1", ":", ";", ",", "|", "-", "=", "/", ".", "(", ")", "[", "]",
          "{", "}", "@", "*", "0", "1", "2181", "65536", "-3", "1e9", "nan", "inf", "8.5", "ms", "secs", "mins",
          "cpus", "mem", "ports", "drf", "true", " ", "\t", "\n", "\x00", "é", "٣", "²", "http://", "corral"]
grammar_text = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20) | grammar_text
yaml_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8) | st.integers(0, 3), inner, max_size=3), max_leaves=8)
# The allocator flag imports the module a spec names: fuzzed below through its import-free part.
FUZZED_FLAGS = [f for table in (MASTER_FLAGS, AGENT_FLAGS, DISPATCHER_FLAGS) for f in table if f.name != "allocator"]


@FUZZ
@given(flag=st.sampled_from(FUZZED_FLAGS), value=grammar_text | yaml_values)
def test_every_flag_value_parses_or_is_a_one_line_config_error(flag, value):
    try:
        parsed = _resolve([flag], {flag.name: value})[flag.name]
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(f"--{flag.name}: ") and message.splitlines() == [message]
        return
    shown = config.public({flag.name: parsed}, [flag])[flag.name]
    assert isinstance(shown, str)
    if flag.name in ("attributes", "resources") and parsed:  # what /flags shows reads back the same
        assert flag.parse(shown) == parsed


@FUZZ
@given(spec=grammar_text | st.text(max_size=30))
def test_allocator_specs_are_checked_without_importing(spec):
    flag = Flag("allocator", config.text(check_allocator_spec), "drf", "the import-free part of the allocator flag")
    try:
        _resolve([flag], {"allocator": spec})
    except ConfigError as exc:
        assert str(exc).splitlines() == [str(exc)]
        assert spec not in ("drf", "priority") and ":" not in spec or "must be drf" in str(exc)


secrets = scalars | st.text(max_size=8).map(lambda text: "SECRET-" + text)


def _text_form(data):
    """Mesos's `principal secret` lines of the entries whose principal is one word (else the
    secret's first word would be read as the principal)."""
    entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
    return "\n".join(f"{e['principal']} {e.get('secret')}" for e in entries
                     if isinstance(e.get("principal"), str) and e["principal"].split() == [e["principal"]])


@FUZZ
@given(data=yaml_values | st.lists(st.fixed_dictionaries({"principal": scalars, "secret": secrets}), max_size=3)
       | st.fixed_dictionaries({"credentials": st.lists(st.fixed_dictionaries({"principal": scalars, "secret": secrets}))}))
def test_credentials_parse_or_are_refused_without_showing_a_secret(data):
    """As the master reads them from its `--credentials` file: the JSON/YAML data, or that file's text."""
    for parse, value in ((credentials_from_json, data), (parse_credentials, json.dumps(data, default=str)),
                         (parse_credentials, _text_form(data))):
        try:
            parse(value)
        except CredentialsError as exc:
            assert "SECRET-" not in str(exc)


@pytest.mark.parametrize(("value", "kind", "disk_du"), [
    ("auto", "auto", False), ("posix", "posix", False), ("cgroups", "cgroups", False),
    ("posix/cpu,posix/mem", "posix", False), ("cgroups/cpu,cgroups/mem", "cgroups", False),
    ("cgroups/cpu, cgroups/mem, cgroups/pids", "cgroups", False),
    ("cgroups/cpu,cgroups/mem,disk/du", "cgroups", True), ("auto,disk/du", "auto", True), ("disk/du", "posix", True),
])
def test_isolation_takes_corrals_words_and_mesoss_names(value, kind, disk_du):
    from corral.agent.isolators import Isolation, parse_isolation
    assert parse_isolation(value) == Isolation(kind, disk_du)
    assert parse_isolation(str(parse_isolation(value))) == Isolation(kind, disk_du)  # as /flags shows it


@pytest.mark.parametrize("value", ["auto,cgroups", "docker/runtime", ""])
def test_isolation_refuses_what_it_cannot_do(value):
    from corral.agent.isolators import parse_isolation
    with pytest.raises(ValueError):
        parse_isolation(value)
