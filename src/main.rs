//! `him`: Health Information Management intake. See `him --help` and README.md.

mod chart;
mod cleanup;
mod cli;
mod config;
mod dictation;
mod filing;
mod identity;
mod intake;
mod launcher;
mod metrics;
mod pipeline;
mod pool;
mod process;
mod serve;
mod services;
mod setup;
mod watch;
mod worker;

fn main() -> std::process::ExitCode {
    launcher::ensure_engine_environment();
    cli::run()
}
