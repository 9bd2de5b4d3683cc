//! Untrusted configuration text: `${VAR}` interpolation, the TOML parser and every section's validation.
#![no_main]

use std::collections::HashMap;

use him::config::PipelineConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = HashMap::from([
        ("HOME".to_string(), "/home/him".to_string()),
        ("EMPTY".to_string(), String::new()),
    ]);
    if let Ok(mut config) = PipelineConfig::parse(text, &env) {
        config.resolve_paths(std::path::Path::new("/etc/him"));
        let _ = config.validate();
    }
});
