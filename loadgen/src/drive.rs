//! Driving calls: what one call does ([`Call`]), and [`drive`], which runs
//! workers on shared connections, each making calls back to back until a
//! deadline or a request budget, timing every call.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Instant,
};

use authpair_proto::{
    auth::v1::{LoginRequest, auth_service_client::AuthServiceClient},
    resource::v1::{GetMyProfileRequest, GetStatusRequest, resource_service_client::ResourceServiceClient},
};
use tonic::{
    Code, Request,
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

use crate::setup;

/// What one worker call does.
#[derive(Clone)]
pub(crate) enum Call {
    Status,
    /// GetStatus, with a token's `authorization` value carried in `cookie`,
    /// which nothing on the server reads. h2 treats the two names alike:
    /// both are in HPACK's static table and both values are sent in full,
    /// Huffman-coded, on every request, never added to the dynamic table
    /// (h2 0.4.20, `Header::skip_value_index`). So the server decodes the
    /// same bytes and does nothing with them: what carrying the token
    /// costs, before any auth.
    StatusCarrying(MetadataValue<Ascii>),
    /// Each token's `authorization` value, built once before the clock
    /// starts: a clone per call is a reference count, not a copy.
    Profile {
        tokens: Arc<Vec<MetadataValue<Ascii>>>,
        next: Arc<AtomicUsize>,
    },
    Login {
        users: Arc<Vec<(String, String)>>,
        next: Arc<AtomicUsize>,
    },
}

impl Call {
    /// GetStatus carrying `token`'s `authorization` value; see
    /// [`Call::StatusCarrying`].
    pub(crate) fn status_carrying(token: &str) -> anyhow::Result<Self> {
        Ok(Call::StatusCarrying(setup::authorization(token)?))
    }

    pub(crate) fn profile(tokens: impl IntoIterator<Item = String>) -> anyhow::Result<Self> {
        let tokens = tokens.into_iter().map(|token| setup::authorization(&token)).collect::<anyhow::Result<_>>()?;
        Ok(Call::Profile { tokens: Arc::new(tokens), next: Arc::default() })
    }

    /// The same list from its start again, with a count of its own: both
    /// sides of `compare-fresh` walk one list of tokens without a copy.
    pub(crate) fn again_from_the_start(&self) -> Self {
        match self {
            Call::Status => Call::Status,
            Call::StatusCarrying(value) => Call::StatusCarrying(value.clone()),
            Call::Profile { tokens, .. } => Call::Profile { tokens: tokens.clone(), next: Arc::default() },
            Call::Login { users, .. } => Call::Login { users: users.clone(), next: Arc::default() },
        }
    }

    /// (tokens in the list, calls that used one a second time): a token
    /// mode's cycling, which the fresh-token modes must not do.
    pub(crate) fn token_reuse(&self) -> Option<FreshTokens> {
        match self {
            Call::Profile { tokens, next } => Some(FreshTokens {
                pool: tokens.len() as u64,
                reused: (next.load(Ordering::Relaxed) as u64).saturating_sub(tokens.len() as u64),
            }),
            _ => None,
        }
    }

    /// Makes two calls with every token, on the run's own connections and
    /// concurrency, before the clock starts: a repeat-token run measures
    /// calls whose token the cache holds, and the cache admits a token on its
    /// second verification. Without this the first wave of concurrent calls
    /// all miss, as many as the scheduling lets through before the admission
    /// (callgrind's count of a reused-token call moved by 2,400 instructions
    /// between runs). The outcomes are not counted: a token the server
    /// refuses shows in the measured calls, as every other status does.
    pub(crate) async fn warm_tokens(&self, channels: &[Channel], concurrency: usize) -> anyhow::Result<()> {
        let Call::Profile { tokens, .. } = self else { return Ok(()) };
        let budget = Arc::new(AtomicU64::new(2 * tokens.len() as u64));
        drive(&self.again_from_the_start(), channels, concurrency, Instant::now(), Some(budget), None).await?;
        Ok(())
    }

    pub(crate) fn method(&self) -> &'static str {
        match self {
            Call::Status | Call::StatusCarrying(_) => "resource.v1.ResourceService/GetStatus",
            Call::Profile { .. } => "resource.v1.ResourceService/GetMyProfile",
            Call::Login { .. } => "auth.v1.AuthService/Login",
        }
    }

    async fn once(&self, channel: &Channel) -> Code {
        let result = match self {
            Call::Status => ResourceServiceClient::new(channel.clone()).get_status(GetStatusRequest {}).await.map(drop),
            Call::StatusCarrying(value) => {
                let mut request = Request::new(GetStatusRequest {});
                request.metadata_mut().insert("cookie", value.clone());
                ResourceServiceClient::new(channel.clone()).get_status(request).await.map(drop)
            }
            Call::Profile { tokens, next } => {
                let value = tokens[next.fetch_add(1, Ordering::Relaxed) % tokens.len()].clone();
                let mut request = Request::new(GetMyProfileRequest {});
                request.metadata_mut().insert("authorization", value);
                ResourceServiceClient::new(channel.clone()).get_my_profile(request).await.map(drop)
            }
            Call::Login { users, next } => {
                let (username, password) = &users[next.fetch_add(1, Ordering::Relaxed) % users.len()];
                let request =
                    LoginRequest { username: username.clone(), password: password.clone(), ..Default::default() };
                AuthServiceClient::new(channel.clone()).login(request).await.map(drop)
            }
        };
        result.err().map_or(Code::Ok, |status| status.code())
    }
}

pub(crate) async fn connect(url: &str, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        channels.push(tonic::transport::Endpoint::from_shared(url.to_owned())?.connect().await?);
    }
    Ok(channels)
}

pub(crate) struct Outcome {
    pub(crate) latencies: Vec<u32>,
    /// Calls per gRPC code, indexed by the code's number: counting must not
    /// allocate, or the load tool spends the core it shares with nothing
    /// on bookkeeping.
    statuses: [u64; CODES],
}

/// gRPC defines codes 0 (OK) to 16 (UNAUTHENTICATED).
const CODES: usize = 17;

impl Outcome {
    pub(crate) fn new() -> Self {
        Self { latencies: Vec::with_capacity(4096), statuses: [0; CODES] }
    }

    pub(crate) fn add(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        for (mine, theirs) in self.statuses.iter_mut().zip(other.statuses) {
            *mine += theirs;
        }
    }

    /// Calls per code name ("Ok", "Unauthenticated", ...), codes with calls only.
    pub(crate) fn status_names(&self) -> BTreeMap<String, u64> {
        (0..CODES)
            .filter(|&code| self.statuses[code] > 0)
            .map(|code| (format!("{:?}", Code::from(code as i32)), self.statuses[code]))
            .collect()
    }
}

/// `concurrency` workers, spread over `channels`, each making `call` back to
/// back (or, with `rate`, its share of `rate` calls a second, evenly) until
/// `deadline` or, if set, until `budget` calls have been made.
pub(crate) async fn drive(
    call: &Call,
    channels: &[Channel],
    concurrency: usize,
    deadline: Instant,
    budget: Option<Arc<AtomicU64>>,
    rate: Option<u32>,
) -> anyhow::Result<Outcome> {
    let period = rate.map(|rate| std::time::Duration::from_secs_f64(concurrency as f64 / f64::from(rate)));
    let workers: Vec<_> = (0..concurrency)
        .map(|i| {
            let (channel, call, budget) = (channels[i % channels.len()].clone(), call.clone(), budget.clone());
            tokio::spawn(async move {
                let mut out = Outcome::new();
                // tokio's timer has millisecond resolution; an interval makes
                // up missed ticks, so a shorter period still holds on average.
                let mut pace = period.map(tokio::time::interval);
                loop {
                    if let Some(pace) = &mut pace {
                        pace.tick().await;
                    }
                    let spent = match &budget {
                        Some(left) => {
                            left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_err()
                        }
                        None => Instant::now() >= deadline,
                    };
                    if spent {
                        break;
                    }
                    let began = Instant::now();
                    let code = call.once(&channel).await;
                    out.latencies.push(began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    // `Code` has exactly the 17 variants 0..=16 (tonic maps
                    // any other number to Unknown), so the index is in range.
                    out.statuses[code as usize] += 1;
                }
                out
            })
        })
        .collect();
    let mut total = Outcome::new();
    for worker in workers {
        total.add(worker.await?);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_side_carries_the_whole_authorization_value_to_a_public_method() -> anyhow::Result<()> {
        let call = Call::status_carrying("header.payload.signature")?;
        let Call::StatusCarrying(value) = &call else { anyhow::bail!("not the carrying call") };
        assert_eq!(value.to_str()?, "Bearer header.payload.signature");
        assert_eq!(call.method(), "resource.v1.ResourceService/GetStatus");
        Ok(())
    }
}

/// A fresh-token run's pool, and the calls that had to take a token again
/// because it ran out: those may hit the server's token cache, so with any
/// the run is not a fresh-token figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FreshTokens {
    pub pool: u64,
    pub reused: u64,
}
