//! `cargo xtask`: developer tasks for `him`. See `cargo xtask --help` and the crate docs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Developer tasks for him (not part of the service binary).
#[derive(Debug, Parser)]
#[command(name = "xtask", bin_name = "cargo xtask", about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Convert a CTranslate2 Whisper model folder (model.bin, vocabulary.txt, config.json) to a ggml file.
    ConvertCt2 {
        /// Folder with the CTranslate2 model.
        #[arg(long)]
        from: PathBuf,
        /// The ggml file to write.
        #[arg(long)]
        out: PathBuf,
        /// Storage of the weight matrices: f16 (as shipped) or q8_0 (8-bit, smaller and faster).
        #[arg(long, value_enum, default_value = "f16")]
        weights: WeightsArg,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum WeightsArg {
    F16,
    #[value(name = "q8_0")]
    Q8_0,
}

impl From<WeightsArg> for xtask::Weights {
    fn from(weights: WeightsArg) -> Self {
        match weights {
            WeightsArg::F16 => xtask::Weights::F16,
            WeightsArg::Q8_0 => xtask::Weights::Q8_0,
        }
    }
}

/// Runs the task; exit 2 on usage errors, 1 when the task fails.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.task {
        Task::ConvertCt2 { from, out, weights } => {
            match xtask::convert_ct2(&from, &out, weights.into()) {
                Ok(report) => {
                    println!(
                        "{}",
                        serde_json::json!({
                            "out": out,
                            "multilingual": report.multilingual,
                            "tensors": report.tensor_count,
                            "tokens": report.token_count,
                            "bytes": report.bytes,
                            "sha256": report.sha256,
                        })
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
