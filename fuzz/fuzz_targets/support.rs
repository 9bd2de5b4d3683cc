//! Shared by the fuzz targets that drive async code (included with `#[path]`; not a target itself).

use std::sync::OnceLock;

/// One current-thread runtime per fuzzing process, built on first use.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}
