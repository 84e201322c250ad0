//! Test support for Blackhole's end-to-end suite: the servers and processes a test runs against.

pub mod clients;
pub mod edge;
pub mod ingest;
pub mod kazoo;
pub mod pki;
pub mod servers;
pub mod stack;
pub mod tls;
pub mod wallboard;
