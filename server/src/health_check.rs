//! `--health-check`: asks the server already running at this
//! configuration's `--listen` (on loopback when it listens on every
//! address) for its health over gRPC, and turns the answer into the exit
//! status: 0 when SERVING, 1 otherwise. A container's health check then
//! runs the service's own binary, with no shell or other tool in the image.

use std::{net::SocketAddr, time::Duration};

use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::config::ServingFlags;

/// How long the check may take in all: connecting and the answer.
const WITHIN: Duration = Duration::from_secs(3);

/// The exit status of a health check of the server `flags` configure (0
/// SERVING, 1 anything else, 2 a configuration it cannot check), with the
/// reason for anything but SERVING on stderr.
pub async fn check(flags: &ServingFlags) -> i32 {
    if flags.tls_cert.is_some() {
        eprintln!("--health-check asks over plaintext gRPC; with --tls-cert, probe the port (TCP) instead");
        return 2;
    }
    let addr = loopback(flags.listen);
    match tokio::time::timeout(WITHIN, status(addr)).await {
        Ok(Ok(ServingStatus::Serving)) => 0,
        Ok(Ok(other)) => {
            eprintln!("{addr}: {}", other.as_str_name());
            1
        }
        Ok(Err(e)) => {
            eprintln!("{addr}: {e}");
            1
        }
        Err(_) => {
            eprintln!("{addr}: no answer within {WITHIN:?}");
            1
        }
    }
}

/// The server's own health ("" service): what its health task reports.
async fn status(addr: SocketAddr) -> Result<ServingStatus, Box<dyn std::error::Error>> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?.connect().await?;
    let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await?;
    Ok(answer.into_inner().status())
}

/// `listen`, with an unspecified address (every interface) replaced by
/// the loopback address of its family.
fn loopback(listen: SocketAddr) -> SocketAddr {
    match listen {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => SocketAddr::from(([127, 0, 0, 1], v4.port())),
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6.port())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_listening_on_every_address_is_checked_on_loopback() {
        let any: SocketAddr = "0.0.0.0:50051".parse().unwrap_or(SocketAddr::from(([1, 1, 1, 1], 1)));
        assert_eq!(loopback(any), SocketAddr::from(([127, 0, 0, 1], 50051)));
        let one: SocketAddr = "10.1.2.3:50052".parse().unwrap_or(any);
        assert_eq!(loopback(one), one);
    }
}
