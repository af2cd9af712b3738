//! Who may use the dashboard. It binds loopback by default; any other address needs an access
//! token, presented as `Authorization: Bearer <token>`, or once as `?token=<token>`, which
//! sets an HttpOnly, SameSite=Strict cookie and redirects to the same URL without it (so the
//! token leaves the address bar and the history).

use super::server::App;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

const COOKIE: &str = "tasker_dashboard_token";

/// Refuses a non-loopback address without a token, and an empty token.
pub(crate) fn check_listen(addrs: &[SocketAddr], token: Option<&str>) -> crate::Result<()> {
    if token.is_some_and(str::is_empty) {
        return Err(crate::Error::Config("the dashboard token is empty".into()));
    }
    if token.is_none() && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(crate::Error::Config(format!(
            "the dashboard listens on {} (not loopback): an access token is required",
            addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// Byte comparison whose time does not depend on where the first difference is.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn presented(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(b) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        out.push(b.trim().to_string());
    }
    for cookies in headers.get_all(header::COOKIE) {
        let Ok(cookies) = cookies.to_str() else {
            continue;
        };
        for c in cookies.split(';') {
            if let Some((k, v)) = c.trim().split_once('=') {
                if k == COOKIE {
                    out.push(v.to_string());
                }
            }
        }
    }
    out
}

/// The query string without its `token` parameter, and that parameter's value.
fn split_token(query: &str) -> (String, Option<String>) {
    let mut token = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("token=") {
            Some(t) => {
                token = Some(percent_decode(t));
                false
            }
            None => !kv.is_empty(),
        })
        .collect();
    (rest.join("&"), token)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or(""), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a `Host` header names this machine's loopback (any port).
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The middleware. Without a token, only requests addressed to a loopback name pass: a page of
/// another site whose name was re-pointed at 127.0.0.1 (DNS rebinding) would otherwise be
/// same-origin with the dashboard, read it and post its forms.
pub(crate) async fn require_token(State(app): State<App>, req: Request, next: Next) -> Response {
    let Some(expected) = app.config.token.as_deref() else {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if loopback_host(host) {
            return next.run(req).await;
        }
        return (
            StatusCode::FORBIDDEN,
            "this dashboard answers only requests to localhost or a loopback address\n",
        )
            .into_response();
    };
    if presented(req.headers())
        .iter()
        .any(|t| same_secret(t, expected))
    {
        return next.run(req).await;
    }
    let (rest, token) = split_token(req.uri().query().unwrap_or(""));
    match token {
        Some(t) if same_secret(&t, expected) => {
            let path = req.uri().path();
            let location = if rest.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{rest}")
            };
            let cookie = format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict");
            let mut resp = StatusCode::SEE_OTHER.into_response();
            if let (Ok(l), Ok(c)) = (
                HeaderValue::from_str(&location),
                HeaderValue::from_str(&cookie),
            ) {
                resp.headers_mut().insert(header::LOCATION, l);
                resp.headers_mut().insert(header::SET_COOKIE, c);
            }
            resp
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "an access token is required: open the dashboard with ?token=<token>\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_needs_a_token() {
        let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
        assert!(check_listen(&[lo], None).is_ok());
        assert!(check_listen(&[any], None).is_err());
        assert!(check_listen(&[any], Some("t")).is_ok());
        assert!(check_listen(&[lo], Some("")).is_err());
    }

    #[test]
    fn the_token_parameter_is_taken_out_of_the_query() {
        assert_eq!(
            split_token("a=1&token=x%2By&b=2"),
            ("a=1&b=2".into(), Some("x+y".into()))
        );
        assert_eq!(split_token(""), (String::new(), None));
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn only_loopback_host_names_pass_without_a_token() {
        for ok in [
            "127.0.0.1:8787",
            "localhost:1",
            "LOCALHOST",
            "[::1]:8787",
            "127.0.0.2",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8787",
            "",
            "10.0.0.1:8787",
            "[fe80::1]:80",
            "localhost.evil.example",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
