"""Daemon flags from the command line, `CORRAL_*` variables and a YAML file.

Each daemon declares its flags once as `Flag`s.  Values are merged with the
precedence command line > environment > `--config` file > default, and every
value is parsed by the flag's parser so that a bad value anywhere fails at
start-up with a message naming the flag and where the value came from.  The
YAML keys are the flag names (`work_dir`, `resources`, ...): that is what the
Ansible roles render.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import click
import yaml


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Flag:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    secret: bool = False  # never shown in /flags or logs

    @property
    def env(self) -> str:
        return "CORRAL_" + self.name.upper()


# -- parsers -------------------------------------------------------------------


def as_str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError("expected a string")
    return str(value)


def as_optional_str(value: Any) -> str | None:
    return None if value is None or value == "" else as_str(value)


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{value}' is not an integer") from None


def as_port(value: Any) -> int:
    port = as_int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port number (0-65535)")
    return port


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"'{value}' is not a boolean (true/false)")


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ns|us|ms|s|secs?|m|mins?|h|hrs?|d|days?)?\s*$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60,
          "h": 3600, "hr": 3600, "hrs": 3600, "d": 86400, "day": 86400, "days": 86400}


def as_duration(value: Any) -> float:
    """Seconds; accepts numbers and Mesos-style strings such as `500ms`, `5secs`, `2mins`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"'{value}' is not a duration (e.g. 5, 500ms, 5secs, 2mins)")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def as_weights(value: Any) -> dict[str, float]:
    """`ads=2,dev=1` or a mapping."""
    from corral.resources import validate_role

    if isinstance(value, Mapping):
        items = list(value.items())
    else:
        items = []
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"'{part}' is not role=weight")
            role, _, weight = part.partition("=")
            items.append((role.strip(), weight.strip()))
    out: dict[str, float] = {}
    for role, weight in items:
        err = validate_role(str(role))
        if err:
            raise ValueError(err)
        try:
            w = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"weight of '{role}' is not a number: '{weight}'") from None
        if not w > 0:
            raise ValueError(f"weight of '{role}' must be > 0")
        out[str(role)] = w
    return out


def as_roles(value: Any) -> list[str] | None:
    from corral.resources import validate_role

    if value is None or value == "":
        return None
    roles = value if isinstance(value, list) else [r.strip() for r in str(value).split(",") if r.strip()]
    for role in roles:
        err = validate_role(str(role))
        if err:
            raise ValueError(err)
    return [str(r) for r in roles]


def as_attributes(value: Any) -> dict[str, Any]:
    """`rack:r1;os:debian;cores:8;zones:{a,b}` or a mapping (Mesos's attribute syntax)."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    out: dict[str, Any] = {}
    for part in str(value).split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, val = part.partition(":")
        if not sep or not name.strip() or not val.strip():
            raise ValueError(f"'{part}' is not name:value")
        val = val.strip()
        if val.startswith("[") or val.startswith("{"):
            out[name.strip()] = val
        else:
            try:
                out[name.strip()] = float(val) if re.fullmatch(r"-?[0-9]*\.?[0-9]+", val) else val
            except ValueError:
                out[name.strip()] = val
    return out


# -- merging ---------------------------------------------------------------------


def resolve(
    flags: Iterable[Flag],
    cli: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    flags = list(flags)
    by_name = {f.name: f for f in flags}
    env = os.environ if env is None else env
    file_values: dict[str, Any] = {}
    config_path = config_path or env.get("CORRAL_CONFIG")
    if config_path:
        try:
            with open(config_path) as fh:
                loaded = yaml.safe_load(fh) or {}
        except OSError as exc:
            raise ConfigError(f"--config: cannot read {config_path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--config: {config_path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config: {config_path} must hold a mapping of flag: value")
        unknown = sorted(set(loaded) - set(by_name))
        if unknown:
            raise ConfigError(f"--config: {config_path}: unknown key(s) {', '.join(unknown)}")
        file_values = loaded
    values: dict[str, Any] = {}
    for flag in flags:
        if cli.get(flag.name) is not None:
            raw, source = cli[flag.name], f"--{flag.name}"
        elif flag.env in env:
            raw, source = env[flag.env], flag.env
        elif flag.name in file_values:
            raw, source = file_values[flag.name], f"{config_path}: {flag.name}"
        else:
            values[flag.name] = flag.default
            continue
        try:
            values[flag.name] = flag.parse(raw) if raw is not None else None
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return values


def click_options(flags: Iterable[Flag]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a click command with `--name`/`--name-with-dashes` for each flag."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for flag in reversed(list(flags)):
            names = [f"--{flag.name}"]
            if "_" in flag.name:
                names.append(f"--{flag.name.replace('_', '-')}")
            default = "" if flag.secret or flag.default in (None, "") else f" [default: {flag.default}]"
            func = click.option(*names, flag.name, default=None, help=f"{flag.help}{default}")(func)
        return click.option("--config", "config", default=None, help="YAML file of flag: value")(func)

    return decorate


def public(values: Mapping[str, Any], flags: Iterable[Flag]) -> dict[str, Any]:
    """Flags safe to show (secrets masked), as strings, like Mesos's /flags."""
    secret = {f.name for f in flags if f.secret}
    return {k: ("*****" if k in secret and v else _show(v)) for k, v in values.items()}


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)
