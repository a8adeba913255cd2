//! Password hashing with argon2id at OWASP parameters (m=19456 KiB, t=2, p=1).
//!
//! Hashing is CPU- and memory-heavy, so it runs on a fixed set of worker
//! threads (one per core by default), never on the async threads. Each
//! worker allocates its 19 MiB of argon2 memory once and reuses it, so memory
//! stays at workers × 19 MiB however many logins are waiting; waiting
//! requests queue in a bounded channel and cost almost nothing. When the
//! queue is full the service sheds load (DS-04): the request is refused at
//! once as UNAVAILABLE `OVERLOADED`, which clients retry with backoff, rather than
//! waiting in a line it would likely time out in. A queued check whose
//! caller has gone by the time a worker reaches it (its deadline passed) is
//! skipped: no hash is spent on an answer nobody reads.
//! An unknown user is checked against a dummy hash of the same cost, so
//! "no such user" and "wrong password" take about the same time.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordVerifier as _, Version};
use base64::{Engine as _, engine::general_purpose::STANDARD_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, oneshot};

use crate::error::{ApiError, Common, CredentialError};

/// OWASP Password Storage Cheat Sheet minimum for argon2id.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;
/// Unless a queue size is given, the queue holds what the workers clear in
/// half the request timeout at the measured time of one hash, so a login at
/// its tail is answered in time, within these bounds.
const AUTO_QUEUE_MIN: usize = 16;
const AUTO_QUEUE_MAX: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing workers are gone")]
    Gone,
    #[error("password hashing queue is full")]
    Busy,
}

enum Task {
    Hash,
    Verify(String),
}

struct Job {
    password: SecretString,
    task: Task,
    reply: oneshot::Sender<Result<Reply, HashError>>,
    queued: Instant,
}

/// What the workers record, registered once: how long a check waited for a
/// worker, how long its argon2 work took (together they size `--hash-queue`
/// and `--hash-concurrency`), and the checks skipped because their caller
/// had gone.
#[derive(Clone)]
struct WorkerMetrics {
    waited: metrics::Histogram,
    worked: metrics::Histogram,
    abandoned: metrics::Counter,
}

enum Reply {
    Hashed(String),
    Matched(bool),
}

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    dummy_hash: Arc<str>,
}

fn params() -> Result<Params, HashError> {
    Params::new(M_COST_KIB, T_COST, P_COST, Some(OUTPUT_LEN)).map_err(|e| HashError::Hash(e.to_string()))
}

fn hash_err(e: impl std::fmt::Display) -> HashError {
    HashError::Hash(e.to_string())
}

/// One worker's reusable state.
struct Worker {
    argon2: Argon2<'static>,
    memory: Vec<Block>,
}

impl Worker {
    fn new() -> Result<Self, HashError> {
        let params = params()?;
        let memory = vec![Block::default(); params.block_count()];
        Ok(Self { argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params), memory })
    }

    fn compute(&mut self, password: &[u8], salt: &[u8]) -> Result<[u8; OUTPUT_LEN], HashError> {
        let mut out = [0u8; OUTPUT_LEN];
        self.argon2.hash_password_into_with_memory(password, salt, &mut out, &mut self.memory).map_err(hash_err)?;
        Ok(out)
    }

    /// A PHC string: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
    fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::getrandom(&mut salt).map_err(hash_err)?;
        let out = self.compute(password, &salt)?;
        Ok(format!(
            "$argon2id$v=19$m={M_COST_KIB},t={T_COST},p={P_COST}${}${}",
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(out)
        ))
    }

    /// Fails closed: an unparsable stored hash is a mismatch. Hashes made
    /// with other parameters (older settings) verify the ordinary way.
    fn verify(&mut self, password: &[u8], stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else { return false };
        let ours = Params::try_from(&parsed).ok().filter(|p| {
            parsed.algorithm.as_str() == "argon2id"
                && p.m_cost() == M_COST_KIB
                && p.t_cost() == T_COST
                && p.p_cost() == P_COST
                && parsed.hash.is_some_and(|h| h.len() == OUTPUT_LEN)
        });
        if ours.is_none() {
            return self.argon2.verify_password(password, &parsed).is_ok();
        }
        let mut salt = [0u8; 64];
        let (Some(expected), Some(Ok(salt))) = (parsed.hash, parsed.salt.map(|s| s.decode_b64(&mut salt))) else {
            return false;
        };
        match self.compute(password, salt).map(|out| argon2::password_hash::Output::new(&out)) {
            // `Output` compares in constant time.
            Ok(Ok(computed)) => computed == expected,
            _ => false,
        }
    }
}

fn serve(jobs: Arc<Mutex<mpsc::Receiver<Job>>>, mut worker: Worker, metrics: WorkerMetrics) {
    loop {
        // Only the worker holding the lock waits on the channel; the others
        // wait for the lock. A poisoned lock means a worker panicked while
        // waiting, which leaves the receiver itself intact.
        let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).blocking_recv();
        let Some(job) = job else { return };
        let began = Instant::now();
        metrics.waited.record(began.duration_since(job.queued).as_secs_f64());
        // The caller gave up while this waited (its deadline passed, or it
        // hung up): nobody would read the answer, and under a flood the
        // queue drains at once instead of hashing for callers long gone.
        if job.reply.is_closed() {
            metrics.abandoned.increment(1);
            continue;
        }
        let password = job.password.expose_secret().as_bytes();
        let reply = match job.task {
            Task::Hash => worker.hash(password).map(Reply::Hashed),
            Task::Verify(stored) => Ok(Reply::Matched(worker.verify(password, &stored))),
        };
        metrics.worked.record(began.elapsed().as_secs_f64());
        let _ = job.reply.send(reply);
    }
}

/// The queue that `workers` clear in half the request timeout at `one` a
/// hash, within [`AUTO_QUEUE_MIN`, `AUTO_QUEUE_MAX`].
fn auto_queue(one: Duration, workers: usize) -> NonZeroUsize {
    let budget = authpair_server::serving::REQUEST_TIMEOUT / 2;
    let per_worker = budget.as_nanos() / one.as_nanos().max(1);
    let fits = per_worker.saturating_mul(workers.max(1) as u128);
    let size = usize::try_from(fits).unwrap_or(usize::MAX).clamp(AUTO_QUEUE_MIN, AUTO_QUEUE_MAX);
    NonZeroUsize::new(size).unwrap_or(NonZeroUsize::MIN)
}

/// How long `queue` waiting checks take `workers` to clear, at `one` each.
fn drain_time(one: Duration, queue: NonZeroUsize, workers: usize) -> Duration {
    one.saturating_mul(queue.get().try_into().unwrap_or(u32::MAX)) / workers.max(1).try_into().unwrap_or(u32::MAX)
}

impl PasswordHasher {
    /// `workers` hashes may run at once (0: one per CPU core) and `queue`
    /// more may wait for them (`None`: as many as the workers clear in half
    /// the request timeout); beyond that a request is refused as busy.
    pub fn new(workers: usize, queue: Option<NonZeroUsize>) -> Result<Self, HashError> {
        let workers = if workers == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { workers };
        let mut first = Worker::new()?;
        let dummy_hash = first.hash(b"authpair dummy password for unknown users")?;
        // The second hash is timed: the first paid for the cold memory.
        let began = Instant::now();
        let _ = first.verify(b"authpair dummy password for unknown users", &dummy_hash);
        let one = began.elapsed();
        let (queue, given) = match queue {
            Some(queue) => (queue, true),
            None => (auto_queue(one, workers), false),
        };
        let (sender, receiver) = mpsc::channel(queue.get());
        let receiver = Arc::new(Mutex::new(receiver));
        let drain = drain_time(one, queue, workers);
        tracing::debug!(queue = queue.get(), workers, hash_secs = one.as_secs_f64(), given, "password hashing queue");
        if given && drain > authpair_server::serving::REQUEST_TIMEOUT {
            tracing::warn!(
                queue = queue.get(),
                workers,
                drain_secs = drain.as_secs_f64(),
                "a full password hashing queue takes longer to drain than the request timeout, so its last \
                 logins would time out after waiting: lower --hash-queue or raise --hash-concurrency"
            );
        }
        let mut pending = Some(first);
        let metrics = WorkerMetrics {
            waited: metrics::histogram!(crate::metrics::PASSWORD_QUEUE_WAIT),
            worked: metrics::histogram!(crate::metrics::PASSWORD_CHECK),
            abandoned: metrics::counter!(crate::metrics::PASSWORD_ABANDONED),
        };
        for i in 0..workers {
            let worker = match pending.take() {
                Some(worker) => worker,
                None => Worker::new()?,
            };
            let (receiver, metrics) = (receiver.clone(), metrics.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || serve(receiver, worker, metrics))
                .map_err(hash_err)?;
        }
        // The threads end when the last clone of this hasher is dropped.
        Ok(Self { jobs: sender, dummy_hash: dummy_hash.into() })
    }

    async fn run(&self, password: SecretString, task: Task) -> Result<Reply, HashError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.try_send(Job { password, task, reply, queued: Instant::now() }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => HashError::Busy,
            mpsc::error::TrySendError::Closed(_) => HashError::Gone,
        })?;
        answer.await.map_err(|_| HashError::Gone)?
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        match self.run(password, Task::Hash).await? {
            Reply::Hashed(hash) => Ok(hash),
            Reply::Matched(_) => Err(HashError::Gone),
        }
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no stored hash, so both paths cost the same.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<bool, HashError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        match self.run(password, Task::Verify(stored)).await? {
            Reply::Matched(matched) => Ok(known && matched),
            Reply::Hashed(_) => Err(HashError::Gone),
        }
    }
}

/// A hashing failure as the handlers answer it: a full queue is load
/// shedding (UNAVAILABLE, OVERLOADED), anything else an internal error.
impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        match err {
            // Load shedding, not a fault: clients retry UNAVAILABLE with backoff.
            HashError::Busy => {
                tracing::warn!("password hashing queue full; shedding a request");
                metrics::counter!(authpair_claims::telemetry::THROTTLED, "kind" => "hashing", "reason" => "QUEUE_FULL")
                    .increment(1);
                CredentialError::Overloaded.into()
            }
            HashError::Hash(_) | HashError::Gone => {
                tracing::error!(error = %err, "password hashing failed");
                Common::Internal.into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sh_03_hashes_are_argon2id_at_owasp_parameters_salted_and_standard() -> Result<(), HashError> {
        let hasher = PasswordHasher::new(2, None)?;
        let a = hasher.hash(SecretString::from("correct horse")).await?;
        let b = hasher.hash(SecretString::from("correct horse")).await?;
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(hasher.verify(SecretString::from("correct horse"), Some(a.clone())).await?);
        assert!(!hasher.verify(SecretString::from("wrong"), Some(a.clone())).await?);
        assert!(!hasher.verify(SecretString::from("correct horse"), None).await?);
        assert!(!hasher.verify(SecretString::from("x"), Some("not a hash".into())).await?);
        // The argon2 crate's own verifier agrees: the PHC string is standard.
        let parsed = PasswordHash::new(&a).map_err(hash_err)?;
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        Ok(())
    }

    #[tokio::test]
    async fn a_hash_made_with_other_parameters_still_verifies() -> Result<(), HashError> {
        use argon2::{PasswordHasher as _, password_hash::SaltString};
        let older = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 3, 1, None).map_err(hash_err)?);
        let salt = SaltString::encode_b64(b"sixteen byte sal").map_err(hash_err)?;
        let stored = older.hash_password(b"old password", &salt).map_err(hash_err)?.to_string();
        let hasher = PasswordHasher::new(1, None)?;
        assert!(hasher.verify(SecretString::from("old password"), Some(stored.clone())).await?);
        assert!(!hasher.verify(SecretString::from("wrong"), Some(stored)).await?);
        Ok(())
    }

    #[test]
    fn a_full_queue_drains_in_queue_times_one_check_over_the_workers() {
        let ms = Duration::from_millis;
        let thousand = NonZeroUsize::MIN.saturating_add(1023);
        assert_eq!(drain_time(ms(10), thousand, 2), ms(5_120));
        assert_eq!(drain_time(ms(30), thousand, 1), ms(30_720), "past the 30 s request timeout");
        assert_eq!(drain_time(ms(10), two(), 0), ms(20), "no workers counts as one");
    }

    #[test]
    fn the_automatic_queue_drains_within_the_request_timeout_however_slow_the_hash() {
        let ms = Duration::from_millis;
        let timeout = authpair_server::serving::REQUEST_TIMEOUT;
        for (one, workers) in [(ms(5), 8), (ms(20), 2), (ms(30), 1), (ms(200), 1), (ms(900), 1)] {
            let queue = auto_queue(one, workers);
            assert!(drain_time(one, queue, workers) <= timeout, "{queue} at {one:?} on {workers} workers");
        }
        assert_eq!(auto_queue(ms(20), 2).get(), 1_500, "15 s of two workers at 20 ms a hash");
        assert_eq!(auto_queue(Duration::from_micros(1), 64).get(), AUTO_QUEUE_MAX);
        assert_eq!(auto_queue(Duration::from_secs(5), 1).get(), AUTO_QUEUE_MIN, "a floor, for a very slow host");
    }

    /// One worker and two places in its queue: ten requests at once overflow it.
    fn two() -> NonZeroUsize {
        NonZeroUsize::MIN.saturating_add(1)
    }

    /// Ten checks of "pw" against `stored` at once. The answers of those
    /// served, and how many were refused as busy; anything else fails.
    async fn ten_at_once(hasher: &PasswordHasher, stored: Option<String>) -> Result<(Vec<bool>, usize), HashError> {
        let attempts: Vec<_> = (0..10)
            .map(|_| {
                let (hasher, stored) = (hasher.clone(), stored.clone());
                tokio::spawn(async move { hasher.verify(SecretString::from("pw"), stored).await })
            })
            .collect();
        let (mut answered, mut busy) = (Vec::new(), 0);
        for attempt in attempts {
            match attempt.await.map_err(|e| HashError::Hash(e.to_string()))? {
                Ok(answer) => answered.push(answer),
                Err(HashError::Busy) => busy += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        Ok((answered, busy))
    }

    #[tokio::test]
    async fn en_02_an_unknown_user_costs_a_full_argon2id_check_like_a_wrong_password() -> Result<(), HashError> {
        // "$argon2id$v=19$m=…,t=…,p=…$salt$hash": algorithm, version and
        // parameters, then the salt's and the output's lengths.
        fn shape(phc: &str) -> (Option<Vec<&str>>, Option<usize>, Option<usize>) {
            let parts: Vec<&str> = phc.split('$').collect();
            (parts.get(..4).map(<[&str]>::to_vec), parts.get(4).map(|s| s.len()), parts.get(5).map(|h| h.len()))
        }
        let hasher = PasswordHasher::new(1, Some(two()))?;
        let real = hasher.hash(SecretString::from("pw")).await?;
        // The dummy hash is shaped like a real one, so checking against it
        // is the same work.
        assert_eq!(shape(&hasher.dummy_hash), shape(&real), "{} against {real}", hasher.dummy_hash);
        // And the check really runs on the hashing workers, queue and all:
        // ten unknown users at once for one worker and two places in the
        // queue, so some are refused as busy, and the rest answer no.
        let (answered, busy) = ten_at_once(&hasher, None).await?;
        assert_eq!(answered, [false].repeat(answered.len()), "an unknown user never matches");
        assert!(busy > 0 && !answered.is_empty(), "{} checked, {busy} refused as busy", answered.len());
        Ok(())
    }

    #[tokio::test]
    async fn ds_04_with_the_queue_full_a_hash_is_refused_at_once_and_the_hasher_recovers() -> Result<(), HashError> {
        let hasher = PasswordHasher::new(1, Some(two()))?;
        let stored = hasher.hash(SecretString::from("pw")).await?;
        let (answered, busy) = ten_at_once(&hasher, Some(stored.clone())).await?;
        assert_eq!(answered, [true].repeat(answered.len()), "the right password matches");
        let matched = answered.len();
        assert!((2..=3).contains(&matched), "{matched} verified, {busy} refused");
        assert_eq!(matched + busy, 10);
        // The line has cleared: the next one is served.
        assert!(hasher.verify(SecretString::from("pw"), Some(stored)).await?);
        Ok(())
    }
}
