"""Authentication, authorization and TLS for Corral's HTTP endpoints.

- `credentials`: principals with secrets (HTTP Basic) and bearer tokens,
  loaded from a Mesos-style credentials file.
- `jwt`: HS256 tokens (per-executor tokens, operator tokens).
- `acls`: Mesos's local authorizer over a JSON ACL file.
- `tls`: server and client SSL contexts, and the executor's TLS environment.
- `flags`: the daemons' security flags.
- `middleware`: the aiohttp middleware that authenticates each request.
- `master`, `agent`: what each daemon protects and how.
"""
