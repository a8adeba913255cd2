//! The Helm chart (`deploy/helm/authpair`), checked by tools nobody here
//! wrote: Helm's own linter and renderer (PyPI's helm-python-sdk binds
//! Helm's Go SDK; `tests/helm/chart.py`) and Kubernetes' schemas (PyPI's
//! kubernetes-validate, strict, for two Kubernetes versions). CI installs
//! both (`tests/helm/requirements.txt`).

use std::process::Command;

use authpair_tests::{TestResult, repo_root};
use serde_json::{Value, json};

/// Kubernetes versions the rendered manifests must be valid for.
const KUBERNETES: &[&str] = &["1.33.0", "1.37.0"];

/// Whether the Python tools are installed; under `CI=true` their absence is
/// an error, elsewhere the test says it skipped.
pub(crate) fn tools_or_skip(test: &str) -> anyhow::Result<bool> {
    let found = Command::new("python3")
        .args(["-c", "import helm_python, kubernetes_validate"])
        .output()
        .is_ok_and(|o| o.status.success());
    match found {
        true => Ok(true),
        false if std::env::var("CI").is_ok_and(|v| v == "true") => {
            anyhow::bail!(
                "helm-python-sdk or kubernetes-validate is missing; .ci/run installs tests/helm/requirements.txt"
            )
        }
        false => {
            authpair_tests::say_skipped(test, "pip install -r tests/helm/requirements.txt");
            Ok(false)
        }
    }
}

/// `chart.py command chart values [release]`: (success, stdout, stderr).
fn chart(command: &str, values: &Value, release: Option<&str>) -> anyhow::Result<(bool, String, String)> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), values.to_string())?;
    let mut run = Command::new("python3");
    run.arg(repo_root().join("tests/helm/chart.py"))
        .arg(command)
        .arg(repo_root().join("deploy/helm/authpair"))
        .arg(file.path())
        .args(release);
    let output = run.output()?;
    Ok((
        output.status.success(),
        String::from_utf8(output.stdout)?,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

fn render(values: &Value) -> anyhow::Result<String> {
    render_release(values, "test")
}

/// The manifests of release `release` with `values`, as one YAML stream.
pub(crate) fn render_release(values: &Value, release: &str) -> anyhow::Result<String> {
    let (ok, manifests, error) = chart("template", values, Some(release))?;
    anyhow::ensure!(ok, "the chart did not render: {error}");
    Ok(manifests)
}

/// `kubernetes-validate --strict` for each version; the failures, if any.
fn validate(manifests: &str) -> anyhow::Result<()> {
    let file = tempfile::NamedTempFile::with_suffix(".yaml")?;
    std::fs::write(file.path(), manifests)?;
    for version in KUBERNETES {
        let output = Command::new("python3")
            .args(["-m", "kubernetes_validate", "--strict", "--quiet", "--kubernetes-version", version])
            .arg(file.path())
            .output()?;
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        anyhow::ensure!(output.status.success(), "invalid for Kubernetes {version}:\n{said}");
    }
    Ok(())
}

/// Values of a production release: PostgreSQL and Redis, every option on.
fn production() -> Value {
    json!({
        "auth": {"publicUrl": "https://auth.example.com"},
        "secrets": {
            "masterKey": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            "feedSecret": "feed-secret-value-4242",
            "authDatabaseUrl": "postgres://authpair@db/auth",
            "resourceDatabaseUrl": "postgres://authpair@db/resource",
            "redisUrl": "redis://redis:6379",
            "bootstrapAdmin": "admin:change-me-now",
        },
        "gate": {
            "enabled": true,
            "routes": "[[route]]\nname = \"resource\"\naudience = \"authpair\"\ndescriptor_sets = [\"resource.binpb\"]\nservices = [\"resource.v1.ResourceService\"]\n",
            "descriptorSets": {"resource.binpb": "CgA="},
        },
        "networkPolicy": {"enabled": true},
        "autoscaling": {"enabled": true},
        "serviceMonitor": {"enabled": true},
    })
}

#[test]
fn helm_lints_the_chart_with_no_warning_and_every_rendering_is_valid_kubernetes() -> TestResult {
    if !tools_or_skip("helm_chart")? {
        return Ok(());
    }
    let (ok, report, error) = chart("lint", &production(), None)?;
    assert!(ok, "helm lint failed to run: {error}");
    let report: Value = serde_json::from_str(&report)?;
    assert_eq!(report["errors"], json!([]), "helm lint: {report}");
    // Severity 2 is a warning, 3 an error; 1 (information) is allowed.
    let serious: Vec<&Value> = report["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["severity"].as_u64().is_some_and(|s| s >= 2))
        .collect();
    assert!(serious.is_empty(), "helm lint warnings: {serious:?}");

    // A production release, and one instance of each on SQLite.
    let single = json!({
        "auth": {"publicUrl": "https://auth.example.com", "replicas": 1},
        "resource": {"replicas": 1},
        "secrets": {"masterKey": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "feedSecret": "s"},
    });
    for values in [production(), single] {
        validate(&render(&values)?)?;
    }
    Ok(())
}

#[test]
fn the_rendered_pods_run_non_root_read_only_with_no_capabilities_and_grpc_health_probes() -> TestResult {
    if !tools_or_skip("helm_chart")? {
        return Ok(());
    }
    let manifests = render(&production())?;
    let of_kind = |m: &&str, kind: &str| m.lines().any(|l| l == format!("kind: {kind}"));
    let deployments: Vec<&str> = manifests.split("\n---\n").filter(|m| of_kind(m, "Deployment")).collect();
    assert_eq!(deployments.len(), 3, "one Deployment per server: auth, resource, gate");
    for deployment in deployments {
        for needed in [
            "runAsNonRoot: true",
            "runAsUser: 65532",
            "readOnlyRootFilesystem: true",
            "allowPrivilegeEscalation: false",
            "drop: [\"ALL\"]",
            "type: RuntimeDefault",
            "readinessProbe:\n            grpc:",
            "automountServiceAccountToken: false",
            "topologySpreadConstraints:",
        ] {
            assert!(deployment.contains(needed), "a Deployment lacks {needed:?}:\n{deployment}");
        }
    }
    for kind in ["PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "ConfigMap"] {
        assert!(manifests.contains(&format!("kind: {kind}")), "no {kind} rendered");
    }
    // Secrets go in a Secret, never in a Deployment's plain env.
    for secret in ["postgres://authpair@db", "redis://redis", "change-me-now", "feed-secret-value-4242"] {
        let outside = manifests.split("\n---\n").filter(|m| !of_kind(m, "Secret")).any(|m| m.contains(secret));
        assert!(!outside, "{secret:?} appears outside the Secret");
    }
    Ok(())
}

#[test]
fn more_than_one_replica_on_sqlite_missing_secrets_and_a_gate_without_routes_refuse_to_render_with_the_reason()
-> TestResult {
    if !tools_or_skip("helm_chart")? {
        return Ok(());
    }
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let cases = [
        (
            json!({"auth": {"publicUrl": "https://a"}, "secrets": {"masterKey": key, "feedSecret": "s"}}),
            "auth.replicas > 1 needs secrets.authDatabaseUrl",
        ),
        (
            json!({"auth": {"publicUrl": "https://a", "replicas": 1},
                   "secrets": {"masterKey": key, "feedSecret": "s"}}),
            "resource.replicas > 1 needs secrets.resourceDatabaseUrl",
        ),
        (json!({"secrets": {"masterKey": key, "feedSecret": "s"}}), "auth.publicUrl is required"),
        (json!({"auth": {"publicUrl": "https://a"}, "secrets": {"feedSecret": "s"}}), "secrets.masterKey"),
        (
            json!({"auth": {"publicUrl": "https://a", "replicas": 1}, "resource": {"replicas": 1},
                   "secrets": {"masterKey": key, "feedSecret": "s"}, "gate": {"enabled": true}}),
            "gate.routes is required with gate.enabled",
        ),
    ];
    for (values, reason) in cases {
        let (ok, _, error) = chart("template", &values, Some("test"))?;
        assert!(!ok, "{values} rendered");
        assert!(error.contains(reason), "{values}: expected {reason:?}, got {error}");
    }
    Ok(())
}

#[test]
fn every_value_of_the_chart_is_documented_in_docs_deploy_md() -> TestResult {
    if !tools_or_skip("helm_chart")? {
        return Ok(());
    }
    let output = Command::new("python3")
        .arg(repo_root().join("tests/helm/chart.py"))
        .args(["keys"])
        .arg(repo_root().join("deploy/helm/authpair"))
        .output()?;
    assert!(output.status.success(), "chart.py keys: {output:?}");
    let doc = std::fs::read_to_string(repo_root().join("docs/deploy.md"))?;
    let keys = String::from_utf8(output.stdout)?;
    assert!(keys.lines().count() > 30, "only {} values found", keys.lines().count());
    for key in keys.lines() {
        assert!(doc.contains(&format!("`{key}`")), "values.yaml's `{key}` is not in docs/deploy.md's table");
    }
    Ok(())
}
