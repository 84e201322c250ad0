//! Small HTTP helpers shared by the routes: responses, CORS and query strings.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

/// Every response of the public listener.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// A response with a body and content type.
pub(crate) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    response(status, "text/plain; charset=UTF-8", body)
}

/// Adds CORS headers: the request's Origin is echoed with credentials allowed, never `*`,
/// because Socket.IO clients send credentialed requests, which browsers refuse with `*`.
pub(crate) fn add_cors(request_headers: &HeaderMap, response: &mut HttpResponse) {
    let Some(origin) = request_headers.get(header::ORIGIN) else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The answer to a CORS preflight.
pub(crate) fn preflight(request_headers: &HeaderMap) -> HttpResponse {
    let mut response = text(StatusCode::NO_CONTENT, Bytes::new());
    add_cors(request_headers, &mut response);
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    let allowed = request_headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("Content-Type"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    response
}

/// Why a request body was not read.
pub(crate) enum BodyError {
    /// Longer than the limit: answer 413.
    TooLarge,
    /// The client hung up or sent a broken body.
    Broken,
}

/// Reads a request body of at most `limit` bytes; one over the limit is counted and logged
/// against `session` before the caller answers 413.
pub(crate) async fn read_body(
    body: hyper::body::Incoming,
    limit: usize,
    metrics: &crate::metrics::Metrics,
    session: u64,
) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            metrics
                .requests_refused
                .with_label_values(&["body_too_large"])
                .inc();
            tracing::info!(session, limit, "refused a polling POST over the body limit");
            Err(BodyError::TooLarge)
        }
        Err(_) => Err(BodyError::Broken),
    }
}

/// The value of `key` in a query string (not percent-decoded: the keys read here never need it).
pub(crate) fn query_param<'q>(query: Option<&'q str>, key: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_parameters() {
        let q = Some("EIO=4&transport=polling&t=N8hyd6w&b64");
        assert_eq!(query_param(q, "EIO"), Some("4"));
        assert_eq!(query_param(q, "transport"), Some("polling"));
        assert_eq!(query_param(q, "b64"), Some(""));
        assert_eq!(query_param(q, "sid"), None);
        assert_eq!(query_param(None, "EIO"), None);
    }

    #[test]
    fn cors_echoes_the_origin_with_credentials() {
        let mut request = HeaderMap::new();
        request.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://wallboard.example"),
        );
        let mut response = text(StatusCode::OK, "ok");
        add_cors(&request, &mut response);
        let headers = response.headers();
        assert_eq!(
            headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://wallboard.example"
        );
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    }
}
