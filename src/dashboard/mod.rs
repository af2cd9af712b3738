//! The built-in web dashboard: server-rendered pages (maud) served by axum on the client's own
//! tokio runtime, an SVG drawing of each task's DAG, live updates over Server-Sent Events and,
//! when allowed, the operations (retry, cancel, resolve) behind CSRF checks. Assets are
//! embedded: nothing is fetched at run time. See docs/ARCHITECTURE.md "Dashboard".

mod access;
mod actions;
mod assets;
mod counts;
mod dag_layout;
mod dag_svg;
mod live;
mod pages;
mod server;
mod throughput;

pub use dag_svg::task_dag_svg;
pub use server::DashboardHandle;

/// The address `tasker dashboard` listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// How to serve the dashboard (`Client::start_dashboard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardConfig {
    /// `host:port`; port 0 picks a free one (read it back with `DashboardHandle::address`).
    pub listen: String,
    /// Serves the retry, cancel and resolve buttons; without it every POST answers 403.
    pub allow_actions: bool,
    /// An access token: required by every request (`Authorization: Bearer`, or `?token=` once,
    /// which sets a cookie). Mandatory when `listen` is not a loopback address.
    pub token: Option<String>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            listen: DEFAULT_LISTEN.into(),
            allow_actions: false,
            token: None,
        }
    }
}
