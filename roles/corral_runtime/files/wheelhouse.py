#!/usr/bin/env python3
"""A wheelhouse: the wheels of some pip requirements and their whole dependency closure,
built once on the deploy host so that nodes without a package index can install them
(`pip install --no-index --find-links`).

    wheelhouse.py inspect --cache DIR --name NAME [--python PY] [--pip-arg ARG ...] -- REQ ...
    wheelhouse.py build   --cache DIR --name NAME [--python PY] [--pip-arg ARG ...] -- REQ ...

A requirement is a pip requirement string (`pyspark[ml]>=4,<5`) or a local project directory
(`/src/corral/runtime`). The fingerprint covers the requirement strings, the *content* of
local projects (so an edited runtime gets a new wheelhouse even if its version did not
change), the pip arguments and the building Python's version and platform (wheels of
compiled packages are only good for that Python). The wheelhouse lives in
`DIR/NAME-<fingerprint>/`: one uncompressed `wheels.tar` (one file to ship to each node;
wheels are zip files already) and `manifest.json` (the wheels in it). It is built in a
temporary directory and renamed into place, so a wheelhouse that exists is complete, and two
concurrent builds cannot mix.

Both commands print one JSON object: name, fingerprint, path, python, complete, built, wheels.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# What is not part of a project's content: build outputs and caches.
SKIP_DIRS = {"__pycache__", "build", "dist", ".pytest_cache", ".mypy_cache", ".hypothesis",
             "tests", "benchmarks", ".git"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info")


def project_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(SKIP_SUFFIXES))
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.endswith(SKIP_SUFFIXES)]
    return files


def build_python(python: str) -> dict[str, str]:
    out = subprocess.run(
        [python, "-c", "import json, sys, sysconfig; print(json.dumps({'version': '%d.%d' % sys.version_info[:2],"
                       " 'platform': sysconfig.get_platform(), 'abi': sys.implementation.cache_tag}))"],
        capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def fingerprint(requirements: list[str], pip_args: list[str], py: dict[str, str]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([py, pip_args]).encode())
    for req in requirements:
        path = Path(req)
        if path.is_dir():
            h.update(b"project\0")
            for f in project_files(path):
                h.update(str(f.relative_to(path)).encode() + b"\0")
                h.update(hashlib.sha256(f.read_bytes()).digest())
        else:
            h.update(b"requirement\0" + req.encode() + b"\0")
    return h.hexdigest()[:16]


def describe(args, built: bool) -> dict:
    py = build_python(args.python)
    fp = fingerprint(args.requirements, args.pip_arg, py)
    path = Path(args.cache) / f"{args.name}-{fp}"
    manifest = path / "manifest.json"
    wheels = json.loads(manifest.read_text())["wheels"] if manifest.is_file() else []
    return {"name": args.name, "fingerprint": fp, "path": str(path), "python": py["version"],
            "platform": py["platform"], "complete": path.is_dir(), "built": built, "wheels": wheels}


def build(args) -> dict:
    info = describe(args, built=False)
    if info["complete"]:
        return info
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{args.name}-", dir=cache))
    try:
        sources = tmp / "src"
        reqs = []
        for i, req in enumerate(args.requirements):
            if Path(req).is_dir():
                # Build from a copy: pip would write build/ and *.egg-info into the project.
                dst = sources / str(i)
                shutil.copytree(req, dst, ignore=lambda d, names: [
                    n for n in names if n in SKIP_DIRS or n.endswith(SKIP_SUFFIXES)])
                reqs.append(str(dst))
            else:
                reqs.append(req)
        wheels = tmp / "wheels"
        proc = subprocess.run([args.python, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                               "--wheel-dir", str(wheels), *args.pip_arg, *reqs],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            sys.exit(f"wheelhouse: pip wheel failed for {' '.join(args.requirements)}")
        house = tmp / "house"
        house.mkdir()
        names = sorted(p.name for p in wheels.glob("*.whl"))
        with tarfile.open(house / "wheels.tar", "w") as tar:
            for name in names:
                tar.add(wheels / name, arcname=name)
        (house / "manifest.json").write_text(json.dumps(
            {"requirements": args.requirements, "fingerprint": info["fingerprint"], "wheels": names}, indent=1))
        try:
            house.rename(info["path"])
        except OSError:
            if not Path(info["path"]).is_dir():  # not a concurrent build that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return describe(args, built=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["inspect", "build"])
    parser.add_argument("--cache", required=True, help="directory holding wheelhouses")
    parser.add_argument("--name", required=True, help="name of this wheelhouse")
    parser.add_argument("--python", default=sys.executable, help="Python whose pip builds the wheels")
    parser.add_argument("--pip-arg", action="append", default=[], help="extra pip wheel argument")
    parser.add_argument("requirements", nargs="+")
    args = parser.parse_args(argv)
    args.requirements = [str(Path(r).resolve()) if Path(r).is_dir() else r for r in args.requirements]
    info = build(args) if args.command == "build" else describe(args, built=False)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
