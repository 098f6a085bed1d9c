"""Daemon flags from the command line, `CORRAL_*` variables and a YAML file.

Each daemon declares its flags once as `Flag`s.  Values are merged with the
precedence command line > environment > `--config` file > default, and every
value (the defaults too) is parsed once, here, by the flag's parser: the daemons
get the parsed objects (`Resources`, `Attributes`, `ZooKeeperURL`, `Credentials`,
`ACLs`, an allocator class, ...) and never parse a flag again.  A bad value
anywhere fails at start-up with a one-line `ConfigError` naming the flag and
where the value came from.  The YAML keys are the flag names (`work_dir`,
`resources`, ...): that is what the Ansible roles render, after checking the
values with these same parsers (plugins/filter/corral_cluster.py).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar

import click
import yaml


T = TypeVar("T")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Flag:
    name: str
    parse: Callable[[Any], Any]  # raises ValueError saying what is wrong
    default: Any  # a value the parser accepts
    help: str
    secret: bool = False  # never shown in /flags or logs
    show: Callable[[Any], str] | None = None  # the parsed value as /flags shows it (default: `show`)

    @property
    def env(self) -> str:
        return "CORRAL_" + self.name.upper()


# -- parsers -------------------------------------------------------------------


def text(parse: Callable[[str], T]) -> Callable[[Any], T]:
    """A parser of text (a YAML list or mapping is refused)."""

    def parse_text(value: Any) -> T:
        return parse(as_str(value))

    return parse_text


def optional(parse: Callable[[str], T]) -> Callable[[Any], T | None]:
    """A parser of text that takes nothing (None or '') as None."""

    def parse_optional(value: Any) -> T | None:
        value = as_optional_str(value)
        return None if value is None else parse(value)

    return parse_optional


def choice(*choices: str, fold_case: bool = False) -> Callable[[Any], str]:
    def parse_choice(value: Any) -> str:
        text = as_str(value).strip().lower() if fold_case else as_str(value)
        if text not in choices:
            raise ValueError(f"'{text}' is not one of {', '.join(choices)}")
        return text

    return parse_choice


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


def as_non_negative_int(value: Any) -> int:
    number = as_int(value)
    if number < 0:
        raise ValueError(f"{number} must be >= 0")
    return number


def as_positive_number(value: Any) -> float:
    """A finite number > 0 (an amount of cpus or MB)."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        raise ValueError(f"'{value}' is not a number") from None
    if math.isnan(number):
        raise ValueError(f"'{value}' is not a number")
    if not 0 < number < math.inf:
        raise ValueError(f"{value} must be a finite number > 0")
    return number


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


# -- merging ---------------------------------------------------------------------


def resolve(
    flags: Iterable[Flag],
    cli: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    config_path: str | None = None,
) -> dict[str, Any]:
    """name -> parsed value of every flag; raises ConfigError."""
    flags = list(flags)
    env = os.environ if env is None else env
    config_path = config_path or env.get("CORRAL_CONFIG")
    file_values = _load_file(config_path, {f.name for f in flags}) if config_path else {}
    values: dict[str, Any] = {}
    for flag in flags:
        if cli.get(flag.name) is not None:
            raw, source = cli[flag.name], f"--{flag.name}"
        elif flag.env in env:
            raw, source = env[flag.env], flag.env
        elif file_values.get(flag.name) is not None:  # `key:` with no value leaves the default
            raw, source = file_values[flag.name], f"{config_path}: {flag.name}"
        else:
            raw, source = flag.default, f"the default of --{flag.name}"
        try:
            values[flag.name] = None if raw is None else flag.parse(raw)
        except ValueError as exc:
            raise ConfigError(one_line(f"{source}: {exc}")) from None
    return values


def _load_file(path: str, names: set[str]) -> dict[Any, Any]:
    try:
        with open(path) as fh:
            loaded = yaml.safe_load(fh) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(one_line(f"--config: {path} is not valid YAML: {problem}{where}")) from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"--config: {path} must hold a mapping of flag: value")
    unknown = sorted(str(key) for key in loaded if key not in names)
    if unknown:
        raise ConfigError(one_line(f"--config: {path}: unknown key(s) {', '.join(unknown)}"))
    return loaded


_LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def one_line(message: str) -> str:
    """A value with line breaks must not make a message of many lines (or forge log lines): escape them."""
    return _LINE_BREAK.sub(lambda m: repr(m.group())[1:-1], message)


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


def public(values: Mapping[str, Any], flags: Iterable[Flag]) -> dict[str, str]:
    """Flags safe to show (secrets masked), as strings, like Mesos's /flags."""
    by_name = {f.name: f for f in flags}
    out = {}
    for name, value in values.items():
        flag = by_name.get(name)
        if flag is not None and flag.secret:
            out[name] = "*****" if value else ""
        else:
            out[name] = (flag.show if flag is not None and flag.show else show)(value)
    return out


def show(value: Any) -> str:
    """A parsed value as text: objects loaded from a file show its path (their str())."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)
