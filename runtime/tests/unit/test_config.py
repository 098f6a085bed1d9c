import pytest

from corral import config
from corral.config import ConfigError, Flag

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
