//! The `subscribe` / `unsubscribe` events that every Socket.IO generation (0.9 and 1.x–4.x)
//! carries the same way: `{account_id, auth_token, binding | bindings}` in, a reply object or a
//! Kazoo failure event out. Protocol adapters only frame the results.

use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::session::{RequestError, Session, SubscriptionRequest};

/// The outcome of one client event.
pub(crate) enum Outcome {
    /// Not a request this server knows; ignored, as Kazoo did.
    Ignored,
    /// The reply object (`{"status":"success",…}`).
    Done(Value),
    /// A refusal; the request's token is kept for the client-facing message.
    Refused { error: RequestError, token: String },
}

impl Outcome {
    /// The acknowledgement payload for a client that asked for one.
    pub(crate) fn ack(&self) -> Option<Value> {
        match self {
            Self::Ignored => None,
            Self::Done(reply) => Some(reply.clone()),
            Self::Refused { error, token } => {
                Some(json!({"status": "error", "errors": [error.client_message(token)]}))
            }
        }
    }

    /// The event Kazoo sent for a refusal when no acknowledgement was asked for:
    /// `auth_failure` for a token that is not accepted, `error` for anything else.
    pub(crate) fn failure_event(&self) -> Option<(&'static str, Value)> {
        let Self::Refused { error, token } = self else {
            return None;
        };
        Some(match error {
            RequestError::Auth(
                auth @ (AuthError::Missing
                | AuthError::Invalid
                | AuthError::Expired
                | AuthError::Format),
            ) => {
                // Kazoo put the token in `cause`; the reason goes there instead, so a client
                // still learns why without the secret travelling back.
                (
                    "auth_failure",
                    json!({"message": "invalid auth token", "cause": auth.client_message(token, false)}),
                )
            }
            other => ("error", json!({"message": other.client_message(token)})),
        })
    }
}

/// Handles the client event `name` with its first argument.
pub(crate) async fn handle(session: &Session, name: &str, argument: &Value) -> Outcome {
    let request = subscription_request(argument);
    let token = request.auth_token.clone().unwrap_or_default();
    let result = match name {
        "subscribe" => match session.take_request_budget() {
            Ok(()) => session
                .subscribe(request)
                .await
                .map(|subscribed| json!({"status": "success", "subscribed": subscribed})),
            Err(e) => Err(e),
        },
        "unsubscribe" => session.take_request_budget().map(|()| {
            let (unsubscribed, subscribed) = session.unsubscribe(&request);
            json!({"status": "success", "unsubscribed": unsubscribed, "subscribed": subscribed})
        }),
        _ => {
            tracing::debug!(
                session = session.id,
                "ignored an event that is neither subscribe nor unsubscribe"
            );
            return Outcome::Ignored;
        }
    };
    match result {
        Ok(reply) => Outcome::Done(reply),
        Err(error) => Outcome::Refused { error, token },
    }
}

/// The message telling a client that bindings stopped because their token expired.
pub(crate) fn expired_event(bindings: &[String]) -> (&'static str, Value) {
    (
        "auth_failure",
        json!({"message": "auth token expired", "cause": "token expired", "bindings": bindings}),
    )
}

/// Reads `{account_id, auth_token, binding | bindings}` from an event argument.
pub(crate) fn subscription_request(argument: &Value) -> SubscriptionRequest {
    let text = |key: &str| argument.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut bindings: Vec<String> = text("binding").into_iter().collect();
    if let Some(list) = argument.get("bindings").and_then(Value::as_array) {
        for binding in list.iter().filter_map(Value::as_str) {
            if !bindings.iter().any(|b| b == binding) {
                bindings.push(binding.to_owned());
            }
        }
    }
    SubscriptionRequest {
        account_id: text("account_id"),
        auth_token: text("auth_token"),
        bindings,
    }
}
