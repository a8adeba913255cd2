//! Arbitrary `authorization` values, one or several: parsing must never
//! panic, and a value it returns is always a single non-empty token.
#![no_main]

use authpair_claims::bearer::bearer_token;
use libfuzzer_sys::fuzz_target;
use tonic::metadata::{MetadataMap, MetadataValue};

fuzz_target!(|data: &[u8]| {
    let mut metadata = MetadataMap::new();
    for value in data.split(|b| *b == b'\n') {
        if let Ok(value) = MetadataValue::try_from(value) {
            metadata.append("authorization", value);
        }
    }
    if let Ok(Some(token)) = bearer_token(&metadata) {
        assert!(!token.is_empty() && !token.contains(' '));
    }
});
