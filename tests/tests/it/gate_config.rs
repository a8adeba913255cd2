//! The configuration docs/gate/ hands users is real: Envoy's file parsed
//! into Envoy's own messages (xds-protos, `tests/gate/config.py`) with the
//! settings the gate relies on; the routes file loaded by the gate's own
//! parser, every route Envoy names in it; Istio's provider and policy
//! agreeing with each other and with the gate.

use std::process::Command;

use authpair_gate::routes::Routes;
use authpair_server::config::ServiceConfig;
use authpair_tests::{TestResult, gate::xds_or_skip, repo_root};
use serde_json::Value;

#[test]
fn the_envoy_file_parses_into_envoys_messages_fails_closed_and_names_only_routes_the_routes_file_has() -> TestResult {
    if !xds_or_skip("gate_config")? {
        return Ok(());
    }
    let output = Command::new("python3")
        .arg(repo_root().join("tests/gate/config.py"))
        .arg(repo_root().join("docs/gate/envoy.yaml"))
        .output()?;
    assert!(output.status.success(), "envoy.yaml: {}", String::from_utf8_lossy(&output.stderr));
    let envoy: Value = serde_json::from_slice(&output.stdout)?;

    let filters = envoy["filters"].as_array().ok_or("no ext_authz filter")?;
    assert_eq!(filters.len(), 1, "{envoy}");
    let authz = &filters[0];
    assert_eq!(authz["failure_mode_allow"], false, "the gate's silence must deny");
    assert_eq!(authz["encode_raw_headers"], true, "two authorization lines must stay two");
    assert_eq!(authz["include_peer_certificate"], true, "a bound token is checked against the client's certificate");
    assert_eq!(authz["transport_api_version"], 2, "V3");
    assert!(authz["timeout_ms"].as_u64().is_some_and(|ms| (1..=1000).contains(&ms)), "{authz}");
    let clusters: Vec<&str> = envoy["clusters"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(clusters.contains(&authz["cluster"].as_str().unwrap_or("")), "the gate's cluster is defined: {clusters:?}");
    assert_eq!(
        (&envoy["normalize_path"], &envoy["merge_slashes"], &envoy["escaped_slashes"]),
        (&Value::Bool(true), &Value::Bool(true), &Value::String("REJECT_REQUEST".into())),
        "paths reach the gate in normal form"
    );

    // The routes file the gate would load, with the example's descriptors.
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("orders.binpb"), orders_service::pb::DESCRIPTORS)?;
    let text = std::fs::read_to_string(repo_root().join("docs/gate/routes.toml"))?;
    let routes = Routes::parse(&text, dir.path())?;
    let named: Vec<&str> = envoy["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["context_extensions"]["authpair_route"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(named.len(), 2, "{envoy}");
    for name in named {
        assert!(routes.route(Some(name)).is_some(), "envoy.yaml names route {name:?}, which routes.toml lacks");
    }
    Ok(())
}

#[test]
fn the_istio_provider_and_policy_name_each_other_reach_the_gates_port_and_fail_closed() -> TestResult {
    if !xds_or_skip("gate_config")? {
        return Ok(());
    }
    let output = Command::new("python3")
        .arg(repo_root().join("tests/gate/config.py"))
        .arg("istio")
        .arg(repo_root().join("docs/gate/istio.yaml"))
        .output()?;
    assert!(output.status.success(), "istio.yaml: {}", String::from_utf8_lossy(&output.stderr));
    let istio: Value = serde_json::from_slice(&output.stdout)?;
    let (documents, mesh) = (istio["documents"].as_array().ok_or("no documents")?, &istio["mesh"]);
    let provider = &mesh["extensionProviders"][0];
    let grpc = &provider["envoyExtAuthzGrpc"];
    assert_eq!(grpc["port"], 50053, "the gate's default port");
    assert_eq!(grpc["failOpen"], false);
    assert!(grpc["timeout"].as_str().is_some_and(|t| t.ends_with('s')), "{grpc}");
    let policy = documents.iter().find(|d| d["kind"] == "AuthorizationPolicy").ok_or("no AuthorizationPolicy")?;
    assert_eq!(policy["spec"]["action"], "CUSTOM");
    assert_eq!(policy["spec"]["provider"]["name"], provider["name"], "the policy names the mesh's provider");
    let gate = <authpair_gate::Config as ServiceConfig>::from_flags(["authpair-gate"])?;
    assert_eq!(gate.serving.listen.port(), 50053, "the port Istio is pointed at is the gate's default");
    Ok(())
}
