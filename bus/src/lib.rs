//! blackhole-bus: the contract between `blackhole-ingest` and `blackhole-edge`.
//!
//! Ingest turns each Kazoo AMQP message into an [`Envelope`] published on its account's Redis
//! channel ([`Keyspace`]); edges decode that envelope once and fan it out. Everything both sides
//! must agree on lives here, and nothing here does I/O:
//!
//! - [`account`]: the account id type and how it is found in Kazoo database names;
//! - [`keyspace`]: Redis channel and stream names, hash-tagged per account;
//! - [`envelope`]: the bytes on the Redis channel and in the replay stream;
//! - [`route`]: which account an AMQP message belongs to, and its client-facing routing key;
//! - [`script`]: the Redis script ingest runs to append and publish one event atomically.

pub mod account;
pub mod envelope;
pub mod keyspace;
pub mod route;
pub mod script;

pub use account::AccountId;
pub use envelope::{Envelope, EnvelopeError, EventMeta, Offset};
pub use keyspace::Keyspace;
pub use route::{EventKind, Route, RouteError, Source};
