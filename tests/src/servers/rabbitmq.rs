//! Owns the tests' share of the RabbitMQ node that `scripts/test` starts: a private vhost per
//! test, created and deleted through `rabbitmqctl`.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::scratch::unique_suffix;

/// `scripts/test` exports these; see its header.
const ENV_AMQP_URL: &str = "BLACKHOLE_TEST_AMQP_URL";
const ENV_RABBITMQ_NODE: &str = "BLACKHOLE_TEST_RABBITMQ_NODE";
const ENV_RABBITMQ_HOME: &str = "BLACKHOLE_TEST_RABBITMQ_HOME";
const ENV_ERL_EPMD_PORT: &str = "BLACKHOLE_TEST_ERL_EPMD_PORT";

/// The unwrapped CLI: `/usr/sbin/rabbitmqctl` switches to the rabbitmq user, whose HOME holds
/// another Erlang cookie.
const RABBITMQCTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

/// A vhost of its own on the shared RabbitMQ node, so that tests running in parallel never see
/// each other's exchanges, queues or messages. Deleted on drop.
pub struct RabbitVhost {
    name: String,
    url: String,
    cli: RabbitCli,
}

impl RabbitVhost {
    /// Creates the vhost and grants `guest` full rights on it (each `rabbitmqctl` call starts an
    /// Erlang VM, about 0.6 s).
    pub async fn create() -> Self {
        let Ok(base_url) = std::env::var(ENV_AMQP_URL) else {
            panic!("{ENV_AMQP_URL} is not set: run ./scripts/test: RabbitMQ is required");
        };
        let cli = RabbitCli::from_env();
        let name = format!("bhtest-{}", unique_suffix());
        cli.run(&["add_vhost", &name]).await;
        cli.run(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"])
            .await;
        RabbitVhost {
            url: amqp_url_with_vhost(&base_url, &name),
            name,
            cli,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/<vhost>`, ready for lapin or the binaries' flags.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Drop for RabbitVhost {
    fn drop(&mut self) {
        // Best effort: the whole node is thrown away at the end of the run anyway. Blocking is
        // acceptable here, it only delays the end of one test.
        let _ = self
            .cli
            .std_command(&["delete_vhost", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// How to reach the node that `scripts/test` started.
struct RabbitCli {
    node: String,
    home: String,
    epmd_port: String,
}

impl RabbitCli {
    fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run ./scripts/test: RabbitMQ is required")
            })
        };
        RabbitCli {
            node: var(ENV_RABBITMQ_NODE),
            home: var(ENV_RABBITMQ_HOME),
            epmd_port: var(ENV_ERL_EPMD_PORT),
        }
    }

    fn std_command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(RABBITMQCTL);
        command
            .args(["-q", "-n", &self.node])
            .args(args)
            // The node's HOME holds the Erlang cookie; its epmd is private to this run.
            .env("HOME", &self.home)
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("ERL_EPMD_PORT", &self.epmd_port)
            .stdin(Stdio::null());
        command
    }

    /// Runs `rabbitmqctl`, retrying: every call listens on one of only 11 fixed distribution
    /// ports (35672-35682), so a burst of parallel calls can briefly fail.
    async fn run(&self, args: &[&str]) {
        let mut failure = String::new();
        for attempt in 0..5u64 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
            }
            let output = Command::from(self.std_command(args))
                .kill_on_drop(true)
                .output()
                .await
                .unwrap_or_else(|e| panic!("run {RABBITMQCTL}: {e}: run ./scripts/test"));
            if output.status.success() {
                return;
            }
            failure = format!(
                "{}\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        panic!("rabbitmqctl {} failed: {failure}", args.join(" "));
    }
}

/// Replaces the vhost path of an AMQP URL (`…/%2f`), keeping any query string.
fn amqp_url_with_vhost(base: &str, vhost: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (base, None),
    };
    let authority_start = without_query.find("://").map_or(0, |i| i + 3);
    let root = match without_query[authority_start..].find('/') {
        Some(i) => &without_query[..authority_start + i],
        None => without_query,
    };
    let mut url = format!("{root}/{}", percent_encode(vhost));
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
