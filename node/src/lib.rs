//! Chorus node library: a peer-to-peer chat node on libp2p.
//!
//! - [`net`]: the libp2p swarm and its composed behaviour;
//! - [`presence`]: who is in the network (heartbeats, joins, departures);
//! - [`node`]: the event loop that ties them together, driven by [`api::Command`]s
//!   and reporting [`api::Event`]s;
//! - [`limits`]: limits and flood control (rate limits, bounded tables);
//! - [`wire`]: what nodes say to each other (CBOR), [`api`]: the `--json` interface;
//! - [`order`]: the sans-IO ordering core (election, replication, sequencer);
//! - [`authorship`], [`seal`], [`admission`]: signed messages, end-to-end
//!   encrypted direct messages, and which servers may vote.
//!
//! `docs/architecture.md` explains how the pieces fit.

pub mod admission;
pub mod api;
pub mod authorship;
pub mod chat;
pub mod config;
pub mod history;
pub mod identity;
pub mod limits;
pub mod net;
pub mod node;
pub mod presence;
pub mod query;
pub mod seal;
pub mod store;
pub mod wire;

pub use chorus_order as order;
pub use config::{NodeConfig, Timing};
pub use node::{start, NodeHandle};
pub use wire::Role;
