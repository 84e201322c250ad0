//! The wallboard: a live call-center board served at `GET /`, compiled into the binary.
//!
//! The page is static HTML, CSS and JS (`edge/assets/wallboard/`, hand-written, no build step).
//! It talks back to this edge over the Kazoo 4.x JSON websocket protocol, so it makes no
//! request to any other origin, which the Content-Security-Policy below enforces. Its only
//! dynamic resource is `/wallboard/config.json`, which in `--demo` hands it the demo accounts'
//! tokens (published anyway) so that it connects by itself; otherwise it asks for credentials.

// Remove once the router calls `serve`: until then only the tests do.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use serde_json::json;

use crate::demo::DemoAccount;
use crate::http::{HttpResponse, response};

/// Everything the page loads comes from this origin; the websocket may be ws: or wss: because
/// `'self'` does not match websocket schemes in every browser still in use. `form-action 'none'`
/// keeps the login form from ever submitting the token if the script did not run.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
     img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JSON: &str = "application/json";

/// The path the page fetches its configuration from.
pub(crate) const CONFIG_PATH: &str = "/wallboard/config.json";

/// A file of the page: its path, content type and body.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 5] = [
    Asset {
        path: "/",
        content_type: HTML,
        body: include_str!("../assets/wallboard/index.html"),
    },
    Asset {
        path: "/wallboard.css",
        content_type: CSS,
        body: include_str!("../assets/wallboard/wallboard.css"),
    },
    Asset {
        path: "/wallboard-model.js",
        content_type: JS,
        body: include_str!("../assets/wallboard/wallboard-model.js"),
    },
    Asset {
        path: "/wallboard-link.js",
        content_type: JS,
        body: include_str!("../assets/wallboard/wallboard-link.js"),
    },
    Asset {
        path: "/wallboard.js",
        content_type: JS,
        body: include_str!("../assets/wallboard/wallboard.js"),
    },
];

/// The accounts the page may sign in to by itself in `--demo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DemoLogin {
    /// In the order the page offers them; it connects to the first.
    pub(crate) accounts: Vec<DemoLoginAccount>,
}

/// One demo account as the page needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DemoLoginAccount {
    pub(crate) name: String,
    pub(crate) account_id: String,
    pub(crate) auth_token: String,
}

impl DemoLogin {
    /// The login for the demo accounts, e.g. `DemoLogin::new(&demo::demo_accounts())`.
    pub(crate) fn new(accounts: &[DemoAccount]) -> Self {
        Self {
            accounts: accounts
                .iter()
                .map(|account| DemoLoginAccount {
                    name: account.name.clone(),
                    account_id: account.id.as_str().to_owned(),
                    auth_token: account.token.clone(),
                })
                .collect(),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let accounts: Vec<_> = self
            .accounts
            .iter()
            .map(
                |a| json!({"name": a.name, "account_id": a.account_id, "auth_token": a.auth_token}),
            )
            .collect();
        json!({ "accounts": accounts })
    }
}

/// Answers a `GET` for one of the wallboard's paths, or `None` if `path` is not one of them.
/// `demo` is `Some` in `--demo` only.
pub(crate) fn serve(path: &str, demo: Option<&DemoLogin>) -> Option<HttpResponse> {
    if path == CONFIG_PATH {
        let config = json!({ "demo": demo.map(DemoLogin::to_json) });
        return Some(with_headers(response(
            StatusCode::OK,
            JSON,
            config.to_string(),
        )));
    }
    let asset = ASSETS.iter().find(|asset| asset.path == path)?;
    Some(with_headers(response(
        StatusCode::OK,
        asset.content_type,
        Bytes::from_static(asset.body.as_bytes()),
    )))
}

fn with_headers(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    // Revalidated on every load, so a wallboard left open picks up a new edge's page on reload.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests;
