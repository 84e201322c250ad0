use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::*;

pub(in crate::auth) const OWN: &str = "4b31dd1d32ce6d249897c06332375d65";
pub(in crate::auth) const CHILD: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";
pub(in crate::auth) const OTHER: &str = "0123456789abcdef0123456789abcdef";

/// What the stand-in knows about one token.
#[derive(Clone, Default)]
pub(in crate::auth) struct Known {
    pub(in crate::auth) accounts: HashSet<String>,
    pub(in crate::auth) superduper_admin: bool,
}

/// A Crossbar stand-in on 127.0.0.1:0 that answers by token and path, as Crossbar would,
/// and records every request it gets.
pub(in crate::auth) struct StandIn {
    pub(in crate::auth) url: String,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    pub(in crate::auth) async fn start(tokens: HashMap<String, Known>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let tokens = Arc::new(tokens);
        let counter = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            // Owned here so that aborting the stand-in also closes its open connections.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let tokens = Arc::clone(&tokens);
                let counter = Arc::clone(&counter);
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let status = answer(&tokens, &request);
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(b"{\"data\":{}}")))
                                .unwrap(),
                        )
                    }
                });
                connections.spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Self {
            url: format!("http://{addr}/v2/"),
            requests,
            task,
        }
    }

    pub(in crate::auth) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Crossbar's answers; a request without the header or off the expected paths is a test
/// failure, reported as 400 so the client maps it to "unavailable".
fn answer(tokens: &HashMap<String, Known>, request: &hyper::Request<Incoming>) -> StatusCode {
    let Some(token) = request
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
    else {
        return StatusCode::BAD_REQUEST;
    };
    if token == "crash" {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let Some(known) = tokens.get(token) else {
        return StatusCode::UNAUTHORIZED;
    };
    let path = request.uri().path();
    let allowed = if path == "/v2/system_configs" {
        known.superduper_admin
    } else if let Some(account) = path.strip_prefix("/v2/accounts/") {
        known.superduper_admin || known.accounts.contains(account)
    } else {
        return StatusCode::BAD_REQUEST;
    };
    if allowed {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

pub(in crate::auth) fn known(accounts: &[&str], superduper_admin: bool) -> Known {
    Known {
        accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
        superduper_admin,
    }
}

/// An unsigned JWT-shaped token: the stand-in accepts it by its text, as Crossbar would a
/// real one, and the client reads its payload.
pub(in crate::auth) fn jwt_shaped(account: &str, exp: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"k"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"account_id":"{account}","exp":{exp}}}"#));
    format!("{header}.{payload}.c2ln")
}

fn account(id: &str) -> Target {
    Target::Account(AccountId::parse(id).unwrap())
}

fn future_exp() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600
}

#[tokio::test]
async fn grants_own_and_descendant_accounts_and_refuses_others() {
    let stand_in = StandIn::start(HashMap::from([(
        "opaque-token".to_owned(),
        known(&[OWN, CHILD], false),
    )]))
    .await;
    let crossbar = Crossbar::new(&stand_in.url).unwrap();

    let grant = crossbar
        .authorize("opaque-token", &account(CHILD))
        .await
        .unwrap();
    assert_eq!(grant.target, account(CHILD));
    // An opaque token's account is unknown: it is the one Crossbar vouched for.
    assert_eq!(grant.account.as_str(), CHILD);
    assert_eq!(grant.authenticator, Authenticator::Crossbar);
    assert_eq!(grant.expires_at, None);

    assert_eq!(
        crossbar.authorize("opaque-token", &account(OTHER)).await,
        Err(AuthError::UnauthorizedAccount)
    );
    assert_eq!(
        crossbar.authorize("stranger", &account(OWN)).await,
        Err(AuthError::Invalid)
    );
}

#[tokio::test]
async fn reads_account_and_expiry_of_an_accepted_jwt() {
    let exp = future_exp();
    let token = jwt_shaped(OWN, exp);
    let stand_in = StandIn::start(HashMap::from([(
        token.clone(),
        known(&[OWN, CHILD], false),
    )]))
    .await;
    let crossbar = Crossbar::new(&stand_in.url).unwrap();

    let grant = crossbar.authorize(&token, &account(CHILD)).await.unwrap();
    assert_eq!(grant.account.as_str(), OWN);
    assert_eq!(
        grant.expires_at,
        Some(UNIX_EPOCH + Duration::from_secs(exp))
    );
}

#[tokio::test]
async fn wildcard_needs_a_superduper_admin_jwt() {
    let admin = jwt_shaped(OWN, future_exp());
    let reseller = jwt_shaped(CHILD, future_exp());
    let stand_in = StandIn::start(HashMap::from([
        (admin.clone(), known(&[OWN], true)),
        (reseller.clone(), known(&[CHILD], false)),
        ("opaque-admin".to_owned(), known(&[OWN], true)),
    ]))
    .await;
    let crossbar = Crossbar::new(&stand_in.url).unwrap();

    let grant = crossbar.authorize(&admin, &Target::Wildcard).await.unwrap();
    assert_eq!(
        (grant.account.as_str(), grant.target),
        (OWN, Target::Wildcard)
    );
    assert_eq!(
        crossbar.authorize(&reseller, &Target::Wildcard).await,
        Err(AuthError::UnauthorizedWildcard)
    );
    let before = stand_in.requests();
    // Without a readable account the grant could not name one: refused without asking.
    assert_eq!(
        crossbar.authorize("opaque-admin", &Target::Wildcard).await,
        Err(AuthError::UnauthorizedWildcard)
    );
    assert_eq!(stand_in.requests(), before);
}

#[tokio::test]
async fn caches_grants_and_refusals_but_not_outages() {
    let stand_in = StandIn::start(HashMap::from([("t".to_owned(), known(&[OWN], false))])).await;
    let crossbar = Crossbar::new(&stand_in.url)
        .unwrap()
        .with_cache_ttl(Duration::from_secs(30), Duration::from_millis(100));

    for _ in 0..3 {
        crossbar.authorize("t", &account(OWN)).await.unwrap();
    }
    assert_eq!(stand_in.requests(), 1);

    for _ in 0..3 {
        assert_eq!(
            crossbar.authorize("t", &account(OTHER)).await,
            Err(AuthError::UnauthorizedAccount)
        );
    }
    assert_eq!(stand_in.requests(), 2);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let _ = crossbar.authorize("t", &account(OTHER)).await;
    assert_eq!(stand_in.requests(), 3, "refusals expire sooner");

    for _ in 0..2 {
        assert_eq!(
            crossbar.authorize("crash", &account(OWN)).await,
            Err(AuthError::Unavailable(
                "crossbar answered an unexpected status"
            ))
        );
    }
    assert_eq!(stand_in.requests(), 5, "a 500 is asked again");
    // Same account, other token: a separate entry.
    assert_eq!(
        crossbar.authorize("u", &account(OWN)).await,
        Err(AuthError::Invalid)
    );
    assert_eq!(crossbar.cache_len(), 3);
}

#[tokio::test]
async fn expired_cached_grant_is_refused() {
    let token = jwt_shaped(OWN, future_exp());
    let stand_in = StandIn::start(HashMap::from([(token.clone(), known(&[OWN], false))])).await;
    let crossbar = Crossbar::new(&stand_in.url).unwrap();
    crossbar.authorize(&token, &account(OWN)).await.unwrap();
    // Expire the cached grant in place, as time passing would.
    for cached in crossbar.cache.lock().unwrap().entries.values_mut() {
        if let Ok(grant) = &mut cached.outcome {
            grant.expires_at = Some(SystemTime::now() - Duration::from_secs(1));
        }
    }
    assert_eq!(
        crossbar.authorize(&token, &account(OWN)).await,
        Err(AuthError::Expired)
    );
}

#[tokio::test]
async fn down_or_silent_crossbar_is_unavailable() {
    let addr: SocketAddr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let crossbar = Crossbar::new(&format!("http://{addr}/v2")).unwrap();
    let err = crossbar.authorize("t", &account(OWN)).await.unwrap_err();
    assert_eq!(err, AuthError::Unavailable("crossbar unreachable"));
    assert_eq!(err.reason(), "unavailable");
    assert!(
        !err.client_message("t", true)
            .contains("failed to authenticate")
    );

    // Accepts, then never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let crossbar = Crossbar::new(&format!("http://{addr}/v2"))
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    assert_eq!(
        crossbar.authorize("t", &account(OWN)).await,
        Err(AuthError::Unavailable("crossbar timed out"))
    );
    assert_eq!(crossbar.cache_len(), 0);
    hold.abort();
}

#[test]
fn refuses_unusable_urls() {
    for url in [
        "kazoo:8000/v2",
        "ftp://kazoo/v2",
        "http://kazoo:8000/v2?x=1",
        "/v2",
    ] {
        assert!(
            matches!(Crossbar::new(url), Err(ConfigError::CrossbarUrl(_))),
            "{url}"
        );
    }
}

#[test]
fn token_cannot_reach_the_cache_key_unhashed() {
    let crossbar = Crossbar::new("http://127.0.0.1:1/v2").unwrap();
    let a = crossbar.cache_key("token", &account(OWN));
    assert_eq!(a, crossbar.cache_key("token", &account(OWN)));
    assert_ne!(a, crossbar.cache_key("token", &account(OTHER)));
    assert_ne!(a, crossbar.cache_key("token", &Target::Wildcard));
    assert_ne!(a, crossbar.cache_key("tokem", &account(OWN)));
    assert!(!format!("{crossbar:?}").contains("token"));
}
