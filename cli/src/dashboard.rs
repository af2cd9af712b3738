//! `tasker dashboard`: serves the library's web dashboard until SIGINT or SIGTERM, then stops
//! it cleanly (open pages see their live stream end).

use crate::error::CliError;
use crate::output::Output;
use tasker::{Client, DashboardConfig};

#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// host:port to listen on; a non-loopback address requires --token.
    #[arg(long, default_value = tasker::DEFAULT_LISTEN)]
    listen: String,
    /// Offers retry, cancel and resolve buttons (CSRF-protected POSTs).
    #[arg(long)]
    allow_actions: bool,
    /// Access token every request must present (Bearer header, or ?token= once).
    #[arg(long, env = "TASKER_DASHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub fn run(
    connect: impl FnOnce() -> Result<Client, tasker::Error>,
    args: DashboardArgs,
    out: &Output,
) -> Result<(), CliError> {
    // Blocked before the client starts its runtime threads, which inherit the mask: the two
    // signals then reach only the sigwait below instead of killing the process.
    let signals = blocked_stop_signals()?;
    let client = connect()?;
    let config = DashboardConfig {
        listen: args.listen,
        allow_actions: args.allow_actions,
        token: args.token,
    };
    let mut handle = client.start_dashboard(&config)?;
    let url = format!("http://{}/", handle.address());
    out.print(
        &serde_json::json!({"listening": handle.address().to_string(), "url": url, "allow_actions": config.allow_actions}),
        || format!("dashboard on {url} (Ctrl-C stops it)\n"),
    )?;
    let mut sig: libc::c_int = 0;
    // SAFETY: `signals` is an initialised set; sigwait only writes `sig`.
    unsafe { libc::sigwait(&signals, &mut sig) };
    tracing::info!(signal = sig, "dashboard stopping");
    handle.stop();
    Ok(())
}

fn blocked_stop_signals() -> Result<libc::sigset_t, CliError> {
    // SAFETY: plain libc calls on a zeroed set owned by this frame.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(CliError::Output(std::io::Error::from_raw_os_error(rc)));
        }
        Ok(set)
    }
}
