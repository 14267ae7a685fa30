//! Redis's own replication protocol, master side: the replication stream
//! (`feed`) and the commands and connections that serve it to replicas
//! (`master`): SYNC, PSYNC, REPLCONF, WAIT; and the replica side
//! (`replica`): REPLICAOF. Tessera's active-active CRDT
//! replication between nodes is a different thing (the `replication/`
//! crate of the architecture).

pub mod feed;
pub mod master;
pub mod replica;
