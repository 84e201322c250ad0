//! Owns reading a Blackhole admin listener: a bare HTTP/1.0 GET of `/metrics` and the value of
//! one Prometheus sample in the text it returns.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A scrape that takes longer than this counts as failed: the admin listener of a healthy
/// process answers in well under a millisecond.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The body of `GET /metrics`.
pub(crate) async fn metrics(admin: SocketAddr) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(admin).await?;
        let request = format!("GET /metrics HTTP/1.0\r\nHost: {admin}\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        // HTTP/1.0: the body ends when the server closes.
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(SCRAPE_TIMEOUT, exchange)
        .await
        .with_context(|| format!("GET http://{admin}/metrics timed out"))?
        .with_context(|| format!("GET http://{admin}/metrics"))?;
    let text = String::from_utf8_lossy(&response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("GET http://{admin}/metrics: not an HTTP response");
    };
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "GET http://{admin}/metrics: {}",
            head.lines().next().unwrap_or("")
        );
    }
    Ok(body.to_owned())
}

/// The value of the sample of metric `name` whose labels include `label` (`None`: the sample
/// without labels, or the sum of all of its series). Label values must need no escaping, as
/// Blackhole's never do.
pub(crate) fn sample(text: &str, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let wanted = label.map(|(key, value)| format!("{key}=\"{value}\""));
    let mut total = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(inner) => match inner.split_once('}') {
                Some((labels, value)) => (labels, value),
                None => continue,
            },
            // Not a longer name with this one as its prefix.
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        if let Some(wanted) = &wanted
            && !labels.split(',').any(|l| l.trim() == wanted)
        {
            continue;
        }
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        *total.get_or_insert(0.0) += value;
    }
    total
}

#[cfg(test)]
mod tests;
