//! Command-line interface: clap subcommands mapped to functions in `src/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::startup::CommonArgs;

/// Health Information Management intake: scanned charts and dictations in, patient folders out.
#[derive(Debug, Parser)]
#[command(name = "him", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check what him needs — tesseract and its language data, the speech model, the store, RabbitMQ, the
    /// review database — one line each, and say what to do about each failure; exit 1 when any failed.
    Doctor {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run the pipeline in-process over files (no broker) and print one JSON line per input.
    Process(ProcessArgs),
    /// Store originals under intake/ and queue them for the workers; one JSON line per file.
    Submit(SubmitArgs),
    /// Consume queued jobs, run the pipeline, file the results and publish events.
    Worker(WorkerArgs),
    /// Inspect and re-run dead-lettered jobs.
    Dlq {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Serve the scanning-station intake API (`POST /api/v1/intake`).
    Serve {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Watch a dictation drop folder and queue each complete file once.
    Watch {
        #[command(flatten)]
        common: CommonArgs,
        /// The drop folder.
        dir: PathBuf,
    },
    /// Print a cover sheet (PDF) to scan in front of a document: its barcode names the patient (MRN and date of
    /// birth) and the document (docs/COVERSHEET.md).
    Coversheet(CoversheetArgs),
    /// Serve the HIM review web UI.
    #[cfg(feature = "review")]
    Review {
        #[command(flatten)]
        common: CommonArgs,
        /// Rebuild the review index from the store, then exit.
        #[arg(long)]
        reindex: bool,
    },
    /// Send the outbox's events (approvals, signatures, addenda, corrections, reassignments) to the EHR:
    /// HL7 v2 MDM over MLLP (`[hl7] send_to`) and FHIR R4 (`[fhir] base_url`).
    Deliver {
        #[command(flatten)]
        common: CommonArgs,
        /// One pass over the outbox, then exit: 0 when nothing is left to retry, 75 when some is.
        #[arg(long)]
        once: bool,
    },
    /// Receive ADT messages (patient added, updated, merged, identifier changed) over MLLP on `[hl7] listen`
    /// and apply them to the patient index in the store; or undo a merge.
    Adt {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: Option<AdtCommand>,
    },
    /// Interface status per destination (last success, backlog, dead letters), or replay a dead letter.
    Interfaces {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: Option<InterfacesCommand>,
    },
    /// Bring a store written by an earlier release up to date (journals of the outbox and of the patient
    /// index changes), once, with every `him` service stopped. Safe to run again.
    Migrate {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Manage review accounts and login lock-outs (passwords are read from the HIM_PASSWORD variable or
    /// standard input).
    #[cfg(feature = "review")]
    User {
        #[command(flatten)]
        common: CommonArgs,
        #[command(subcommand)]
        command: UserCommand,
    },
}

/// Arguments of `him process`.
#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    #[command(flatten)]
    pub common: CommonArgs,
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

/// Arguments of `him coversheet`.
#[derive(Debug, clap::Args)]
pub struct CoversheetArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The patient's MRN.
    #[arg(long)]
    pub mrn: String,
    /// The patient's date of birth (YYYY-MM-DD); taken from the index with --patients.
    #[arg(long)]
    pub dob: Option<String>,
    /// The MRN's assigning authority (default: `[batch] authority`, else `LOCAL`).
    #[arg(long)]
    pub authority: Option<String>,
    /// Encounter (visit) number.
    #[arg(long)]
    pub encounter: Option<String>,
    /// LOINC document type (e.g. 18842-5, discharge summary).
    #[arg(long = "type")]
    pub document_type: Option<String>,
    /// Date of service (YYYY-MM-DD).
    #[arg(long)]
    pub dos: Option<String>,
    /// Pages expected after the sheet (blank back sides not counted).
    #[arg(long)]
    pub pages: Option<u32>,
    /// Patient index (FHIR Patient NDJSON or CSV): the date of birth and name are taken from it.
    #[arg(long)]
    pub patients: Option<PathBuf>,
    /// The PDF to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `him submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Urgent: consumed before all normal work.
    #[arg(long)]
    pub stat: bool,
    /// Id of the submitting station (letters, digits, - _ .).
    #[arg(long)]
    pub station: Option<String>,
    /// Files to submit.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Arguments of `him worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Patient index (FHIR Patient NDJSON or CSV) for matching.
    #[arg(long)]
    pub patients: Option<PathBuf>,
    /// Work kinds to consume.
    #[arg(long, value_delimiter = ',', default_value = "charts,dictations")]
    pub kinds: Vec<String>,
    /// Engines per pool, overriding `ocr.workers` and `asr.workers`.
    #[arg(long)]
    pub workers: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// List dead-lettered jobs with their reasons.
    List {
        /// Most jobs to list.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Put dead-lettered jobs back on their work queue.
    Replay {
        /// The document id to replay.
        id: Option<String>,
        /// Replay every dead-lettered job.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AdtCommand {
    /// Serve the ADT listener (the default).
    Listen,
    /// Undo a merge received over ADT (A40): the merged MRN names its own patient again, and the documents
    /// filed under it leave the survivor's list. Recorded like any other change.
    Unmerge {
        /// The survivor's MRN, as the merge named it.
        #[arg(long)]
        survivor: String,
        /// The merged MRN.
        #[arg(long)]
        merged: String,
        /// Who asks (recorded).
        #[arg(long, default_value = "cli")]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
enum InterfacesCommand {
    /// One JSON line per destination: events, delivered, backlog, last success, dead letters.
    Status,
    /// Send a dead-lettered event again (same messages, same control ids).
    Replay {
        /// `hl7` or `fhir`.
        destination: String,
        /// The event id, as `him interfaces` lists it.
        event: String,
        /// Who asks (recorded).
        #[arg(long, default_value = "cli")]
        by: String,
    },
}

#[cfg(feature = "review")]
#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user.
    Add {
        name: String,
        /// clinician, reviewer, supervisor or admin.
        #[arg(long, default_value = "reviewer")]
        role: String,
        /// For a clinician (required there, refused otherwise): the author name their notes carry.
        #[arg(long)]
        author: Option<String>,
    },
    /// List the accounts, one JSON line each: name, role, author, disabled.
    List,
    /// Disable an account: its sessions end and its logins fail.
    Disable { name: String },
    /// Enable a disabled account.
    Enable { name: String },
    /// Lift login lock-outs of a user name (from every address), of a client address, or of both.
    #[command(group(clap::ArgGroup::new("key").required(true).multiple(true).args(["name", "address"])))]
    Unlock {
        name: Option<String>,
        /// The client address (IP) whose failures to clear.
        #[arg(long)]
        address: Option<String>,
    },
    /// Set a user's password (ends their sessions).
    Passwd { name: String },
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
        Command::Doctor { common } => crate::doctor::run(&common),
        Command::Process(args) => crate::process::run(args),
        Command::Submit(args) => crate::commands::submit(args),
        Command::Worker(args) => crate::commands::worker(args),
        Command::Dlq { common, command } => match command {
            DlqCommand::List { limit } => crate::commands::dlq_list(&common, limit),
            DlqCommand::Replay { id, all } => {
                crate::commands::dlq_replay(&common, id.as_deref(), all)
            }
        },
        Command::Coversheet(args) => crate::commands::coversheet(args),
        Command::Serve { common } => crate::commands::serve(&common),
        Command::Watch { common, dir } => crate::commands::watch(&common, &dir),
        #[cfg(feature = "review")]
        Command::Review { common, reindex } => crate::commands::review(&common, reindex),
        Command::Deliver { common, once } => crate::commands::deliver(&common, once),
        Command::Adt { common, command } => match command {
            None | Some(AdtCommand::Listen) => crate::commands::adt(&common),
            Some(AdtCommand::Unmerge {
                survivor,
                merged,
                by,
            }) => crate::commands::unmerge(&common, &survivor, &merged, &by),
        },
        Command::Interfaces { common, command } => match command {
            None | Some(InterfacesCommand::Status) => crate::commands::interfaces(&common),
            Some(InterfacesCommand::Replay {
                destination,
                event,
                by,
            }) => crate::commands::interfaces_replay(&common, &destination, &event, &by),
        },
        Command::Migrate { common } => crate::commands::migrate(&common),
        #[cfg(feature = "review")]
        Command::User { common, command } => match command {
            UserCommand::Add { name, role, author } => {
                crate::commands::user(&common, &name, Some((&role, author.as_deref())))
            }
            UserCommand::Passwd { name } => crate::commands::user(&common, &name, None),
            UserCommand::List => crate::commands::user_list(&common),
            UserCommand::Disable { name } => crate::commands::user_disable(&common, &name, true),
            UserCommand::Enable { name } => crate::commands::user_disable(&common, &name, false),
            UserCommand::Unlock { name, address } => {
                crate::commands::user_unlock(&common, name.as_deref(), address.as_deref())
            }
        },
    }
}
