//! The dashboard's HTTP server: an axum router spawned on the client's own tokio runtime (no
//! thread of its own), bound at start, stopped by its handle. Handlers use the store's async
//! queries and operations directly (the client's public calls block on this very runtime), and
//! never call host code: no subscriber, handler or queue callback runs on the runtime's threads.

use super::counts::{self, CountsCache};
use super::throughput::Throughput;
use super::{access, actions, assets, live, pages, DashboardConfig};
use crate::orchestration::{Client, WeakClient};
use crate::{Error, Result};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How long `stop` waits for open requests and live streams to end before it drops them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What every request handler shares.
#[derive(Clone)]
pub(crate) struct App {
    // Weak: the server's tasks must never hold the last reference (the runtime they run on
    // would then be dropped from inside itself); the handle holds a strong one.
    client: WeakClient,
    pub config: Arc<DashboardConfig>,
    /// The per-server secret every action form carries (CSRF).
    pub csrf: Arc<str>,
    pub throughput: Arc<Throughput>,
    /// The overview's figures, read by one task for every viewer (counts.rs).
    pub counts: Arc<CountsCache>,
    /// Woken by the event bus on any local transition (live.rs; other processes' changes are
    /// seen by polling).
    pub changed: Arc<Notify>,
    pub shutdown: watch::Receiver<bool>,
}

impl App {
    /// The client, unless it is closed or gone: then every page answers 503.
    pub fn client(&self) -> std::result::Result<Client, PageError> {
        self.client
            .upgrade()
            .filter(|c| !c.is_closed())
            .ok_or(PageError(Error::Closed))
    }
}

/// A failed request: the library error, as a status and a short text page.
pub(crate) struct PageError(pub Error);

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::TaskNotFound(_) | Error::StepNotFound(_) => StatusCode::NOT_FOUND,
            Error::InvalidDocument { .. } | Error::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Error::IllegalTransition { .. } => StatusCode::CONFLICT,
            Error::Closed => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(error = %self.0, "dashboard request failed");
        }
        (status, pages::error_page(status, &self.0.to_string())).into_response()
    }
}

/// A running dashboard. `stop` (or dropping it) ends it; until then it keeps its client (and
/// so the client's runtime) alive.
pub struct DashboardHandle {
    address: SocketAddr,
    client: Client,
    subscription: u64,
    shutdown: watch::Sender<bool>,
    done: Option<std::sync::mpsc::Receiver<()>>,
}

impl std::fmt::Debug for DashboardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardHandle")
            .field("address", &self.address)
            .finish()
    }
}

impl DashboardHandle {
    /// The address bound (the real port when the configuration asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections, ends the live streams and waits (at most a few seconds)
    /// for the requests in flight. Idempotent; call it from a host thread, not from async code.
    pub fn stop(&mut self) {
        let Some(done) = self.done.take() else { return };
        let _ = self.shutdown.send(true);
        self.client.unsubscribe(self.subscription);
        let deadline = std::time::Instant::now() + STOP_GRACE;
        let ended = (0..2).all(|_| {
            done.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
                .is_ok()
        });
        if !ended {
            tracing::warn!(address = %self.address, "dashboard requests still open after the grace period; dropped");
        }
    }
}

impl Drop for DashboardHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Client {
    /// Starts the web dashboard on this client's runtime (see `DashboardConfig`). Fails with
    /// `Config` when the address cannot be parsed or bound, or is not loopback and no token is
    /// given. The dashboard runs until its handle is stopped or dropped.
    pub fn start_dashboard(&self, config: &DashboardConfig) -> Result<DashboardHandle> {
        let addrs: Vec<SocketAddr> = config
            .listen
            .to_socket_addrs()
            .map_err(|e| Error::Config(format!("dashboard address '{}': {e}", config.listen)))?
            .collect();
        access::check_listen(&addrs, config.token.as_deref())?;
        let std_listener = std::net::TcpListener::bind(&addrs[..])
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| Error::Config(format!("cannot listen on '{}': {e}", config.listen)))?;
        let _rt = self.inner.rt.enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| Error::Config(format!("cannot listen on '{}': {e}", config.listen)))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("cannot listen on '{}': {e}", config.listen)))?;

        let changed = Arc::new(Notify::new());
        let subscription = {
            let changed = changed.clone();
            self.subscribe(Vec::new(), Arc::new(move |_| changed.notify_waiters()))
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let app = App {
            client: self.downgrade(),
            config: Arc::new(config.clone()),
            csrf: Arc::from(hex::encode(rand::random::<[u8; 32]>())),
            throughput: Arc::default(),
            counts: Arc::default(),
            changed,
            shutdown: shutdown_rx.clone(),
        };
        // Both tasks report their end: `stop` waits for them, so no task of the runtime holds
        // the client when the handle lets go of it.
        let (done_tx, done) = std::sync::mpsc::channel();
        let reader_done = done_tx.clone();
        let reader = counts::reader(app.clone());
        self.inner.rt.spawn(async move {
            reader.await;
            let _ = reader_done.send(());
        });
        let router = router(app);
        let mut stop_rx = shutdown_rx;
        self.inner.rt.spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "dashboard server ended");
            }
            let _ = done_tx.send(());
        });
        tracing::info!(%address, allow_actions = config.allow_actions, "dashboard listening");
        Ok(DashboardHandle {
            address,
            client: self.clone(),
            subscription,
            shutdown,
            done: Some(done),
        })
    }
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/tasks", get(pages::tasks::page))
        .route("/tasks/{id}", get(pages::task::page))
        .route("/tasks/{id}/dag.svg", get(pages::task::svg))
        .route("/steps/{id}", get(pages::step::page))
        .route("/live/overview", get(live::overview))
        .route("/live/tasks/{id}", get(live::task))
        .route("/tasks/{id}/cancel", post(actions::cancel))
        .route("/steps/{id}/retry", post(actions::retry))
        .route("/steps/{id}/resolve", post(actions::resolve))
        .route("/assets/{file}", get(assets::serve))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            access::require_token,
        ))
        .with_state(app)
}

/// `/metrics`: `Client::metrics_text` (this client's step series and the database's gauges)
/// in the Prometheus text format, read on the runtime instead of blocking it.
async fn metrics(
    axum::extract::State(app): axum::extract::State<App>,
) -> Result<Response, PageError> {
    let client = app.client()?;
    let text = crate::metrics::render(&crate::metrics::collect_async(&client).await?);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// No inline script or style, no framing, no referrer to other sites: injected markup cannot
/// run code. (`same-origin`, not `no-referrer`: with the latter browsers send `Origin: null`
/// on form posts, which the actions' origin check must refuse.)
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
