//! One argon2id hash at the service's parameters, on one worker: the unit
//! of login cost. `cargo bench -p auth-service --bench password`.

// Setup that fails means a broken machine, not a result: fail loudly.
#![allow(clippy::expect_used)]

use auth_service::identity::password::PasswordHasher;
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;

fn hashing(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let hasher = runtime.block_on(async { PasswordHasher::new(1, None) }).expect("hasher");
    let stored = runtime.block_on(hasher.hash(SecretString::from("bench password"))).expect("hash");
    let mut group = c.benchmark_group("argon2id m=19456 t=2 p=1");
    group.sample_size(20);
    group.bench_function("verify one password", |b| {
        b.iter(|| {
            runtime.block_on(hasher.verify(SecretString::from("bench password"), Some(stored.clone()))).expect("verify")
        })
    });
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
