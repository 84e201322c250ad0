//! Owns private Redis Clusters: three masters on free ports, joined with
//! `redis-cli --cluster create`, handed out only once every node reports `cluster_state:ok`.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::redis::RedisServer;
use super::scratch::free_ports;
use super::wait::wait_until;

/// A private three-master Redis Cluster (no replicas, no persistence). Its nodes are
/// [`RedisServer`]s, so each one is killed when the cluster is dropped and keeps its files in
/// the run's temp dir.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    const MASTERS: usize = 3;
    const START_ATTEMPTS: u32 = 3;
    /// `redis-cli --cluster create` itself waits for the join (about 4 s here); this bounds it.
    const CREATE_TIMEOUT: Duration = Duration::from_secs(60);
    /// After `create` returns, how long the nodes may take to agree that every slot is served.
    const READY_TIMEOUT: Duration = Duration::from_secs(30);

    /// Starts three nodes, creates the cluster and waits until every node reports
    /// `cluster_state:ok`. Retries on new ports if a node could not start.
    pub async fn start_new() -> Self {
        let mut last_error = String::new();
        for _ in 0..Self::START_ATTEMPTS {
            match Self::try_start_new().await {
                Ok(cluster) => return cluster,
                // Dropping the nodes started so far kills them before the next attempt.
                Err(e) => last_error = e,
            }
        }
        panic!(
            "Redis Cluster did not start after {} attempts: {last_error}",
            Self::START_ATTEMPTS
        );
    }

    /// The nodes' URLs, usable as cluster seeds (`--redis-url a,b,c --redis-cluster`).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes, e.g. to stop one or read its log.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Every node's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("----- redis {} -----\n{}", node.port(), node.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn try_start_new() -> Result<Self, String> {
        // The cluster bus gets a port of its own: the default (port + 10000) may be taken, or
        // above 65535.
        let ports = free_ports(2 * Self::MASTERS);
        let mut nodes = Vec::with_capacity(Self::MASTERS);
        for pair in ports.chunks(2) {
            let extra_args = vec![
                "--cluster-enabled".to_owned(),
                "yes".to_owned(),
                "--cluster-port".to_owned(),
                pair[1].to_string(),
            ];
            nodes.push(RedisServer::try_start_new(pair[0], "redis-cluster-", extra_args).await?);
        }
        let cluster = RedisCluster { nodes };
        cluster.create().await?;
        cluster.wait_all_ok().await?;
        Ok(cluster)
    }

    /// Assigns the slots to the nodes and joins them, as an operator would.
    async fn create(&self) -> Result<(), String> {
        let mut command = Command::new("redis-cli");
        command.args(["--cluster", "create"]);
        for node in &self.nodes {
            command.arg(format!("127.0.0.1:{}", node.port()));
        }
        command
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = match tokio::time::timeout(Self::CREATE_TIMEOUT, command.output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-cli is not on PATH: run the suite with ./scripts/test, which installs it"
            ),
            Ok(Err(e)) => panic!("run redis-cli: {e}"),
            Err(_) => {
                return Err(format!(
                    "redis-cli --cluster create did not finish within {:?}; logs:\n{}",
                    Self::CREATE_TIMEOUT,
                    self.logs()
                ));
            }
        };
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "redis-cli --cluster create exited with {}:\n{}{}\nlogs:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                self.logs()
            ))
        }
    }

    /// `create` returns once the nodes have met, but each node decides on its own when it
    /// serves every slot; a client seeded with any node must see the whole map.
    async fn wait_all_ok(&self) -> Result<(), String> {
        let all_ok = wait_until(Self::READY_TIMEOUT, || async {
            for node in &self.nodes {
                if !cluster_state_ok(&node.url()).await {
                    return false;
                }
            }
            true
        })
        .await;
        if all_ok {
            Ok(())
        } else {
            Err(format!(
                "not every node reported cluster_state:ok within {:?}; logs:\n{}",
                Self::READY_TIMEOUT,
                self.logs()
            ))
        }
    }
}

/// Whether the node at `url` answers `CLUSTER INFO` with `cluster_state:ok`.
async fn cluster_state_ok(url: &str) -> bool {
    let query = async {
        let client = redis::Client::open(url).ok()?;
        let mut connection = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async::<String>(&mut connection)
            .await
            .ok()
    };
    match tokio::time::timeout(Duration::from_secs(2), query).await {
        Ok(Some(info)) => info.lines().any(|line| line.trim() == "cluster_state:ok"),
        _ => false,
    }
}
