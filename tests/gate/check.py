"""Envoy's ext_authz Check, asked of authpair-gate with the stubs PyPI's
xds-protos ships (envoy.service.auth.v3) over grpcio, for the gate's tests
in tests/tests/it/gate.rs:

    python3 tests/gate/check.py ADDR CASES.json

CASES.json is a list of requests to ask about, each
{"route": name or null, "method": "GET", "path": "/x", "headers": {...},
 "raw_headers": [[name, value], ...] or null, "until_code": code or null,
 "certificate": the client's PEM certificate or null}. `headers` go in Envoy's
`headers` map; `raw_headers`, when given, in `header_map` as Envoy sends
them with `encode_raw_headers` (one entry per header line). Prints one JSON
object per case: the status code and message, and the HTTP response Envoy
would act on (status, headers set, headers removed, body). A case with
`until_code` is asked every 20 ms until its status code is that one (at
most 5 s), and its answer has `elapsed_ms`.
"""

import json
import sys
import time
import urllib.parse

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc


def request(case: dict) -> external_auth_pb2.CheckRequest:
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        method=case["method"], path=case["path"], headers=case.get("headers") or {}
    )
    if case.get("raw_headers") is not None:
        for name, value in case["raw_headers"]:
            http.header_map.headers.append(base_pb2.HeaderValue(key=name, raw_value=value.encode()))
    context = attribute_context_pb2.AttributeContext(
        request=attribute_context_pb2.AttributeContext.Request(http=http)
    )
    if case.get("route") is not None:
        context.context_extensions["authpair_route"] = case["route"]
    if case.get("certificate") is not None:
        # As Envoy forwards the client's certificate (include_peer_certificate):
        # PEM, URL-encoded.
        context.source.certificate = urllib.parse.quote(case["certificate"])
    return external_auth_pb2.CheckRequest(attributes=context)


def headers(options) -> dict:
    return {o.header.key: o.header.value or o.header.raw_value.decode() for o in options}


def answer(response: external_auth_pb2.CheckResponse) -> dict:
    out = {"code": response.status.code, "message": response.status.message}
    kind = response.WhichOneof("http_response")
    if kind == "ok_response":
        ok = response.ok_response
        out.update(allowed=True, headers=headers(ok.headers), headers_to_remove=list(ok.headers_to_remove))
    elif kind == "denied_response":
        denied = response.denied_response
        out.update(allowed=False, http_status=denied.status.code, headers=headers(denied.headers), body=denied.body)
    return out


def ask(stub, case: dict) -> dict:
    """One Check; with `until_code`, again every 20 ms until the status
    code is that one (at most 5 s), timed from the first."""
    started = time.monotonic()
    while True:
        out = answer(stub.Check(request(case), timeout=10))
        wanted = case.get("until_code")
        if wanted is None:
            return out
        out["elapsed_ms"] = round((time.monotonic() - started) * 1000)
        if out["code"] == wanted or out["elapsed_ms"] > 5000:
            return out
        time.sleep(0.02)


def main() -> int:
    addr, cases = sys.argv[1], sys.argv[2]
    with open(cases) as f:
        cases = json.load(f)
    with grpc.insecure_channel(addr) as channel:
        stub = external_auth_pb2_grpc.AuthorizationStub(channel)
        for case in cases:
            try:
                print(json.dumps(ask(stub, case)))
            except grpc.RpcError as e:
                print(json.dumps({"rpc_error": e.code().name, "details": e.details()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
