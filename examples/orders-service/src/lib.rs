//! orders-service's generated code and handlers, as a library so that its
//! tests (and yours) can call it with the generated client.
//!
//! - [`pb`]: the `orders.v1` messages, server and client, and [`pb::DESCRIPTORS`].
//! - [`orders`]: the handlers, over orders kept in memory.
//!
//! `main.rs` holds the whole adoption of authpair.

pub mod orders;

pub mod pb {
    #![allow(missing_debug_implementations, missing_docs, clippy::all)]
    tonic::include_proto!("orders.v1");
    /// This service's descriptors, with the policy options and their imports.
    pub const DESCRIPTORS: &[u8] = tonic::include_file_descriptor_set!("orders_descriptor");
}

/// The gRPC service's full name.
pub const SERVICE: &str = "orders.v1.OrdersService";
