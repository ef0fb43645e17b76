//! Fuzzes `tls_config.json` parsing and the DER reader for certificates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use securechat::tls::{der, settings::CertSettings};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = CertSettings::parse(data) {
        assert!((1..=3650).contains(&s.validity_days));
    }
    if let Some(f) = der::cert_facts(data) {
        let _ = f.not_after - f.not_before;
    }
});
