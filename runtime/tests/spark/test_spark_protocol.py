"""Spark's REST submission messages: decoding with errors that name the field."""

from __future__ import annotations

import json

import pytest

from corral.spark.protocol import PYTHON_RUNNER, ProtocolError, decode_create, status_response


def request(**fields):
    body = {"action": "CreateSubmissionRequest", "appResource": "file:/apps/app.jar", "mainClass": "org.example.App",
            "appArgs": ["1"], "sparkProperties": {"spark.app.name": "app"}, "environmentVariables": {},
            "clientSparkVersion": "4.0.0"}
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_jvm_and_python_forms() -> None:
    jvm = decode_create(request())
    assert jvm.application.kind == "jvm" and jvm.application.main_class == "org.example.App"
    py = decode_create(request(appResource="/apps/job.py", mainClass=PYTHON_RUNNER, appArgs=["/apps/job.py", "/apps/lib.py", "x"]))
    app = py.application
    assert (app.kind, app.resource, app.py_files, app.args) == ("python", "/apps/job.py", ("/apps/lib.py",), ("x",))
    plain = decode_create(request(appResource="/apps/job.py", mainClass=...))
    assert plain.application.kind == "python" and plain.application.args == ("1",)


def test_client_environment_is_dropped_and_unknown_fields_reported() -> None:
    sub = decode_create(request(environmentVariables={"SPARK_HOME": "/x", "SPARK_LOCAL_IP": "10.0.0.1", "FOO": "1"},
                                extra=1))
    assert sub.environment == {"FOO": "1"} and sub.unknown_fields == ("extra",)


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "not valid JSON"),
    (b"[]", "JSON object"),
    (request(action="KillSubmissionRequest"), "'action'"),
    (request(appResource=""), "'appResource'"),
    (request(clientSparkVersion=...), "'clientSparkVersion'"),
    (request(sparkProperties={}), "spark.app.name"),
    (request(sparkProperties={"spark.app.name": "a", "x": {"y": 1}}), "'sparkProperties.x'"),
    (request(appArgs="oops"), "'appArgs'"),
    (request(mainClass=...), "'mainClass' is required"),
])
def test_malformed_requests(body: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        decode_create(body)


def test_responses_carry_spark_fields() -> None:
    r = status_response("driver-1", True, "RUNNING", None)
    assert r["action"] == "SubmissionStatusResponse" and r["serverSparkVersion"] and r["driverState"] == "RUNNING"
    assert "message" not in r
