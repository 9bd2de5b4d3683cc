//! `him`: Health Information Management intake. See `him --help`, README.md and the library docs
//! (`src/lib.rs`).

fn main() -> std::process::ExitCode {
    him::launcher::ensure_engine_environment();
    him::cli::run()
}
