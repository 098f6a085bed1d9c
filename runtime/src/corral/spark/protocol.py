"""Spark's REST submission protocol (v1), as spark-submit's RestSubmissionClient speaks it.

    POST /v1/submissions/create          CreateSubmissionRequest  → CreateSubmissionResponse
    GET  /v1/submissions/status/<id>                               → SubmissionStatusResponse
    POST /v1/submissions/kill/<id>                                 → KillSubmissionResponse
    POST /v1/submissions/killall                                   → KillAllSubmissionResponse
    GET  /v1/submissions/readyz                                    → ReadyzResponse

Every message carries `action` (its type name); responses carry
`serverSparkVersion` and `success`.  Errors are an `ErrorResponse` with a
`message`.  Field names are Spark's (camelCase).  `decode_create` validates a
request and names the field at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

PROTOCOL_VERSION = "v1"
PYTHON_RUNNER = "org.apache.spark.deploy.PythonRunner"
CREATE_FIELDS = frozenset(
    {"action", "appResource", "mainClass", "appArgs", "sparkProperties", "environmentVariables", "clientSparkVersion", "message"}
)
# Environment of the submitting client that must not leak into the driver's task.
CLIENT_ENVIRONMENT = frozenset({"SPARK_HOME", "SPARK_LOCAL_IP", "SPARK_CONF_DIR", "SPARK_ENV_LOADED", "SPARK_LOCAL_HOSTNAME",
                                "SPARK_PUBLIC_DNS", "SPARK_SCALA_VERSION", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"})


class ProtocolError(ValueError):
    """A malformed request; the message names the field."""


@lru_cache(maxsize=1)
def server_spark_version() -> str:
    try:
        from importlib.metadata import version

        return version("pyspark")
    except Exception:  # pyspark not installed where the dispatcher runs
        return "4.0.0"


@dataclass(frozen=True)
class CreateSubmission:
    app_resource: str
    main_class: str | None
    app_args: tuple[str, ...]
    spark_properties: dict[str, str]
    environment: dict[str, str]
    client_spark_version: str
    unknown_fields: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The request in Spark's wire form (also what the queue persists)."""
        out: dict[str, Any] = {
            "action": "CreateSubmissionRequest",
            "appResource": self.app_resource,
            "appArgs": list(self.app_args),
            "sparkProperties": dict(self.spark_properties),
            "environmentVariables": dict(self.environment),
            "clientSparkVersion": self.client_spark_version,
        }
        if self.main_class is not None:
            out["mainClass"] = self.main_class
        return out

    @property
    def application(self) -> "Application":
        return application_of(self)


@dataclass(frozen=True)
class Application:
    """What the driver task runs: a Python file or a JVM main class in a jar."""

    kind: str  # "python" | "jvm"
    resource: str
    main_class: str | None
    args: tuple[str, ...]
    py_files: tuple[str, ...] = field(default=())


def decode_create(body: bytes | str | dict[str, Any]) -> CreateSubmission:
    if isinstance(body, (bytes, str)):
        try:
            data = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"Malformed request: the body is not valid JSON ({exc})") from None
    else:
        data = body
    if not isinstance(data, dict):
        raise ProtocolError("Malformed request: the body must be a JSON object (a CreateSubmissionRequest)")
    action = data.get("action")
    if action != "CreateSubmissionRequest":
        raise ProtocolError(f"Malformed request: 'action' must be 'CreateSubmissionRequest' (got {action!r})")
    resource = data.get("appResource")
    if not isinstance(resource, str) or not resource.strip():
        raise ProtocolError("Malformed request: 'appResource' is required (the application's .py file or jar, a path or URL)")
    version = data.get("clientSparkVersion")
    if not isinstance(version, str) or not version:
        raise ProtocolError("Malformed request: 'clientSparkVersion' is required (a string such as '4.0.0')")
    main_class = data.get("mainClass")
    if main_class is not None and not isinstance(main_class, str):
        raise ProtocolError("Malformed request: 'mainClass' must be a string")
    args = data.get("appArgs")
    if args is None:
        args = []
    if not isinstance(args, list) or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in args):
        raise ProtocolError("Malformed request: 'appArgs' must be a list of strings")
    properties = _string_map(data.get("sparkProperties"), "sparkProperties", required=True)
    if not properties.get("spark.app.name", "").strip():
        raise ProtocolError("Malformed request: 'sparkProperties' must set 'spark.app.name'")
    environment = _string_map(data.get("environmentVariables"), "environmentVariables", required=False)
    submission = CreateSubmission(
        app_resource=resource.strip(),
        main_class=main_class.strip() or None if isinstance(main_class, str) else None,
        app_args=tuple(str(a) for a in args),
        spark_properties=properties,
        environment={k: v for k, v in environment.items() if k not in CLIENT_ENVIRONMENT and not k.startswith("MESOS_")},
        client_spark_version=version,
        unknown_fields=tuple(sorted(set(data) - CREATE_FIELDS)),
    )
    application_of(submission)  # validates the resource / main class combination
    return submission


def _string_map(value: Any, name: str, required: bool) -> dict[str, str]:
    if value is None:
        if required:
            raise ProtocolError(f"Malformed request: '{name}' is required (an object of string: string)")
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"Malformed request: '{name}' must be an object of string: string")
    out = {}
    for key, item in value.items():
        if isinstance(item, bool):
            item = "true" if item else "false"
        if not isinstance(item, (str, int, float)):
            raise ProtocolError(f"Malformed request: '{name}.{key}' must be a string (got {type(item).__name__})")
        out[str(key)] = str(item)
    return out


def application_of(submission: CreateSubmission) -> Application:
    main_class = submission.main_class
    if main_class == PYTHON_RUNNER:
        # The form Spark's standalone REST server takes for Python: appArgs = [app.py, pyFiles, args...].
        if not submission.app_args:
            raise ProtocolError(f"Malformed request: 'appArgs' must start with the Python file when 'mainClass' is {PYTHON_RUNNER}")
        primary = submission.app_args[0] or submission.app_resource
        py_files = tuple(f for f in (submission.app_args[1] if len(submission.app_args) > 1 else "").split(",") if f)
        return Application("python", primary, None, tuple(submission.app_args[2:]), py_files)
    resource = submission.app_resource
    path = resource.split("?")[0].lower()
    if path.endswith(".py") and not main_class:
        py_files = tuple(f for f in submission.spark_properties.get("spark.submit.pyFiles", "").split(",") if f)
        return Application("python", resource, None, submission.app_args, py_files)
    if not main_class:
        raise ProtocolError(f"Malformed request: 'mainClass' is required for a JVM application (appResource '{resource}')")
    return Application("jvm", resource, main_class, submission.app_args)


# -- responses -------------------------------------------------------------------


def _response(action: str, success: bool, **fields: Any) -> dict[str, Any]:
    out = {"action": action, "serverSparkVersion": server_spark_version(), "success": success}
    out.update({k: v for k, v in fields.items() if v is not None})
    return out


def create_response(submission_id: str | None, success: bool, message: str, unknown_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    return _response("CreateSubmissionResponse", success, submissionId=submission_id, message=message,
                     unknownFields=list(unknown_fields) or None)


def status_response(submission_id: str, success: bool, driver_state: str | None, message: str | None = None,
                    worker_id: str | None = None, worker_host_port: str | None = None) -> dict[str, Any]:
    return _response("SubmissionStatusResponse", success, submissionId=submission_id, driverState=driver_state,
                     message=message, workerId=worker_id, workerHostPort=worker_host_port)


def kill_response(submission_id: str, success: bool, message: str) -> dict[str, Any]:
    return _response("KillSubmissionResponse", success, submissionId=submission_id, message=message)


def kill_all_response(success: bool, message: str) -> dict[str, Any]:
    return _response("KillAllSubmissionResponse", success, message=message)


def readyz_response(success: bool, message: str) -> dict[str, Any]:
    return _response("ReadyzResponse", success, message=message)


def error_response(message: str, highest_protocol_version: str | None = None) -> dict[str, Any]:
    out = {"action": "ErrorResponse", "serverSparkVersion": server_spark_version(), "message": message}
    if highest_protocol_version:
        out["highestProtocolVersion"] = highest_protocol_version
    return out
