//! One startup skeleton for every server. A server describes itself, and
//! [`Service::run`] does the rest, the same way for all of them:
//!
//! 1. [`Startup::begin`]: the metrics exporter (before anything records a
//!    metric), the TLS files read (a bad file fails the start), the stopping
//!    signal; [`Startup::with_data_dir`]: the data dir, owner-only, locked
//!    unless a database URL makes it shared;
//! 2. the server's own state, built by the server between these steps;
//! 3. [`Startup::service`]: the description ([`Service`]): its gRPC
//!    services, their descriptors, health and how it is watched, an HTTP
//!    router, background tasks, what to close at the end;
//! 4. [`Service::run`]: health and reflection added, the HTTP listener
//!    started, the gRPC server behind the auth layer and the accept loop's
//!    bounds until `shutdown`; then the drain (see `serving::drain_limited`),
//!    the stopping signal, background tasks stopped, the closers run.

use std::{future::Future, net::SocketAddr, pin::Pin};

use anyhow::Context as _;
use authpair_claims::AuthLayer;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tonic::{server::NamedService, service::RoutesBuilder};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    config::{HttpLimits, ServiceFlags, ServingFlags},
    data_dir::DataDirLock,
    exporter,
    listen::{Incoming, admission::Admission, http},
    serving::{ConnectionLimits, drain_limited, reflection, secured_server},
    tls::ServerTls,
};

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Watch = Box<dyn FnOnce(HealthReporter, Vec<&'static str>) -> BoxFuture + Send>;

/// A server on its way up: what every server does before its own state.
#[derive(Debug)]
pub struct Startup {
    name: &'static str,
    limits: ConnectionLimits,
    tls: Option<ServerTls>,
    stopping: watch::Sender<bool>,
    _data_dir: Option<DataDirLock>,
}

impl Startup {
    /// `name` (in logs and the data-dir lock) starting with `flags`: the
    /// metrics exporter started, the TLS files read.
    pub fn begin(name: &'static str, flags: &ServingFlags) -> anyhow::Result<Self> {
        exporter::serve_metrics(flags.metrics_listen, "--metrics-listen").map_err(anyhow::Error::msg)?;
        Ok(Self {
            name,
            limits: flags.connection_limits(),
            tls: flags.tls().context("reading the TLS files (--tls-cert, --tls-key, --tls-client-ca)")?,
            stopping: watch::channel(false).0,
            _data_dir: None,
        })
    }

    /// The data dir created owner-only (it may hold keys and the SQLite
    /// database) and, unless a database URL is set, locked until the server
    /// stops: one instance per dir.
    pub fn with_data_dir(mut self, flags: &ServiceFlags) -> anyhow::Result<Self> {
        create_private_dir(&flags.data_dir)?;
        if flags.database_url.is_none() {
            self._data_dir = Some(DataDirLock::acquire(&flags.data_dir, self.name)?);
        }
        Ok(self)
    }

    /// Turns true when shutdown begins, so long-lived streams (a revocation
    /// feed) end and do not hold the drain open.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Whether the server's listeners use TLS.
    pub fn tls_on(&self) -> bool {
        self.tls.is_some()
    }

    /// The description of a server whose every gRPC call passes `layer`.
    pub fn service(self, layer: AuthLayer) -> Service {
        Service {
            startup: self,
            layer,
            routes: RoutesBuilder::default(),
            names: Vec::new(),
            descriptors: Vec::new(),
            initial: ServingStatus::Serving,
            watch: None,
            http: None,
            tasks: Vec::new(),
            closers: Vec::new(),
        }
    }
}

/// A server, described: what [`Service::run`] serves and stops.
pub struct Service {
    startup: Startup,
    layer: AuthLayer,
    routes: RoutesBuilder,
    names: Vec<&'static str>,
    descriptors: Vec<&'static [u8]>,
    initial: ServingStatus,
    watch: Option<Watch>,
    http: Option<(TcpListener, axum::Router, HttpLimits)>,
    tasks: Vec<JoinHandle<()>>,
    closers: Vec<BoxFuture>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.startup.name)
            .field("services", &self.names)
            .field("http", &self.http.is_some())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Serves `service` (with its own message size limits already set), in
    /// health and reflection under its name.
    pub fn grpc<S>(mut self, service: S) -> Self
    where
        S: tower::Service<::http::Request<tonic::body::Body>, Error = std::convert::Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.routes.add_service(service);
        self.names.push(S::NAME);
        self
    }

    /// An encoded descriptor set reflection serves (the error details' and
    /// health's are always added).
    pub fn descriptors(mut self, set: &'static [u8]) -> Self {
        self.descriptors.push(set);
        self
    }

    /// Health starts at `initial` for every service and the server ("");
    /// `watch` is then spawned with the reporter and those names, to change
    /// it as the server's dependencies come and go.
    pub fn health<F>(
        mut self,
        initial: ServingStatus,
        watch: impl FnOnce(HealthReporter, Vec<&'static str>) -> F + Send + 'static,
    ) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.initial = initial;
        self.watch = Some(Box::new(move |reporter, names| Box::pin(watch(reporter, names))));
        self
    }

    /// Serves `router` on `listener` by the HTTP listener's rules
    /// (`listen::http`), with the gRPC port's TLS.
    pub fn http(mut self, listener: TcpListener, router: axum::Router, limits: HttpLimits) -> Self {
        self.http = Some((listener, router, limits));
        self
    }

    /// Runs `task` in the background until the server stops.
    pub fn task(mut self, task: impl Future<Output = ()> + Send + 'static) -> Self {
        self.tasks.push(tokio::spawn(task));
        self
    }

    /// Runs `closer` after the server has stopped, in the order given (a
    /// database pool closed, a follower stopped).
    pub fn on_stop(mut self, closer: impl Future<Output = ()> + Send + 'static) -> Self {
        self.closers.push(Box::pin(closer));
        self
    }

    /// Serves on `listener` until `shutdown` resolves, then drains and
    /// stops (see the module's map for the order).
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let Self { mut startup, layer, mut routes, names, descriptors, initial, watch, http, mut tasks, closers } =
            self;
        let (name, limits) = (startup.name, startup.limits);
        let addr = listener.local_addr()?;

        let (reporter, health_service) = tonic_health::server::health_reporter();
        for service in std::iter::once("").chain(names.iter().copied()) {
            reporter.set_service_status(service, initial).await;
        }
        if let Some(watch) = watch {
            tasks.push(tokio::spawn(watch(reporter, names.clone())));
        }
        let (reflection_v1, reflection_v1alpha) = reflection(&descriptors, &names)?;
        routes.add_service(health_service).add_service(reflection_v1).add_service(reflection_v1alpha);

        let (grpc_tls, http_tls) = match startup.tls.take() {
            Some(tls) => (Some(tls.grpc), Some(tls.http)),
            None => (None, None),
        };
        if let Some((http_listener, router, http_limits)) = http {
            let http_addr = http_listener.local_addr()?;
            tracing::info!(%http_addr, "{name} HTTP listening");
            tasks.push(tokio::spawn(http::serve(http_listener, router, http_tls, http_limits, startup.stopping())));
        }
        let stopping = startup.stopping.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = stopping.send(true);
        };

        let router = secured_server(layer, grpc_tls, limits)?.add_routes(routes.routes());
        let incoming = Incoming::new(listener, name, limits.lifetime(), Admission::queue(limits.max_connections));
        tracing::info!(%addr, "{name} listening");
        let served =
            drain_limited(shutdown, limits.drain(), |signal| router.serve_with_incoming_shutdown(incoming, signal))
                .await;
        for task in tasks {
            task.abort();
        }
        for closer in closers {
            closer.await;
        }
        tracing::info!(%addr, "{name} stopped");
        Ok(served?)
    }
}

/// The URL a listener bound to `addr` is reached at, when no public URL
/// says otherwise.
pub fn default_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// Creates `dir` (and its parents) so only its owner can enter it.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating data dir {}", dir.display()))
}
