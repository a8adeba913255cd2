"""Envoy's configuration in docs/gate/envoy.yaml parsed into Envoy's own
message types (PyPI's xds-protos), for tests/tests/it/gate_config.rs:

    python3 tests/gate/config.py docs/gate/envoy.yaml
    python3 tests/gate/config.py istio docs/gate/istio.yaml

The YAML becomes a `Bootstrap` through protobuf's JSON mapping, strictly:
an unknown field, a wrong type or an `@type` that names no message fails.
Every typed config is resolved to its message. Prints, as JSON, what the
test checks: each ext_authz filter's settings, the clusters, and each
route's context extensions. With `istio`, the file's documents and the
mesh config inside its ConfigMap, as JSON (Istio's schemas are not on PyPI).
"""

import json
import sys

import yaml
from google.protobuf import json_format

# Registers the typed configs envoy.yaml uses, so their `@type` resolves.
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401


def istio(path: str) -> int:
    """Istio's file: its documents, and the mesh config inside the ConfigMap
    parsed too, as JSON."""
    with open(path) as f:
        documents = list(yaml.safe_load_all(f))
    mesh = next((yaml.safe_load(d["data"]["mesh"]) for d in documents if d.get("kind") == "ConfigMap"), None)
    print(json.dumps({"documents": documents, "mesh": mesh}))
    return 0


def main() -> int:
    if sys.argv[1] == "istio":
        return istio(sys.argv[2])
    with open(sys.argv[1]) as f:
        bootstrap = json_format.ParseDict(yaml.safe_load(f), bootstrap_pb2.Bootstrap())
    out = {"clusters": [c.name for c in bootstrap.static_resources.clusters], "filters": [], "routes": []}
    for listener in bootstrap.static_resources.listeners:
        for chain in listener.filter_chains:
            for network in chain.filters:
                manager = http_connection_manager_pb2.HttpConnectionManager()
                if not network.typed_config.Unpack(manager):
                    continue
                out["normalize_path"] = manager.normalize_path.value
                out["merge_slashes"] = manager.merge_slashes
                out["escaped_slashes"] = http_connection_manager_pb2.HttpConnectionManager.PathWithEscapedSlashesAction.Name(
                    manager.path_with_escaped_slashes_action
                )
                for http in manager.http_filters:
                    authz = ext_authz_pb2.ExtAuthz()
                    if http.typed_config.Unpack(authz):
                        out["filters"].append({
                            "name": http.name,
                            "cluster": authz.grpc_service.envoy_grpc.cluster_name,
                            "timeout_ms": authz.grpc_service.timeout.ToMilliseconds(),
                            "failure_mode_allow": authz.failure_mode_allow,
                            "encode_raw_headers": authz.encode_raw_headers,
                            "include_peer_certificate": authz.include_peer_certificate,
                            "transport_api_version": authz.transport_api_version,
                        })
                for host in manager.route_config.virtual_hosts:
                    for route in host.routes:
                        per_route = ext_authz_pb2.ExtAuthzPerRoute()
                        config = route.typed_per_filter_config.get("envoy.filters.http.ext_authz")
                        extensions = {}
                        if config is not None and config.Unpack(per_route):
                            extensions = dict(per_route.check_settings.context_extensions)
                        out["routes"].append({"cluster": route.route.cluster, "context_extensions": extensions})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
