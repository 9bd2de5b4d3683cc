//! Command-line interface: clap subcommands mapped to functions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Health Information Management intake: scanned charts and dictations in, patient folders out.
#[derive(Debug, Parser)]
#[command(name = "him", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pipeline in-process over files (no broker) and print one JSON line per input.
    Process(ProcessArgs),
    /// Model set-up.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
}

/// Arguments of `him process`.
#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    /// Configuration file (default: built-in defaults, as in the shipped pipeline.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Store URL, overriding `store.url` (a folder, file:///folder or s3://bucket/prefix).
    #[arg(long)]
    pub store: Option<String>,
    /// Patient index (FHIR Patient NDJSON or CSV) for matching.
    #[arg(long)]
    pub patients: Option<PathBuf>,
    /// OCR engines in the pool, overriding `ocr.workers`.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Files to process.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Convert a CTranslate2 Whisper model folder (model.bin, vocabulary.txt, config.json) to a ggml file.
    ConvertCt2 {
        /// Folder with the CTranslate2 model.
        #[arg(long)]
        from: PathBuf,
        /// The ggml file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Parses the command line and runs the command; exit 2 on usage and configuration errors.
pub fn run() -> ExitCode {
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
    crate::launcher::init_logging();
    match cli.command {
        Command::Process(args) => crate::process::run(args),
        Command::Models {
            command: ModelsCommand::ConvertCt2 { from, out },
        } => match crate::models::convert_ct2(&from, &out) {
            Ok(report) => {
                println!(
                    "{}",
                    serde_json::json!({
                        "out": out,
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
        },
    }
}
