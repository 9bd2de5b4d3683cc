//! `him`: Health Information Management intake, as a library behind the `him` binary.
//!
//! The modules read as the pipeline reads, `intake → queue → decode → ocr | asr → extract → match → file →
//! review`:
//!
//! | stage | where |
//! |---|---|
//! | intake | [`intake`] (shared by `him submit`), [`intake_api`] (the scanning-station API, `him serve`), [`drop_folder`] (dictation drops, `him watch`) |
//! | queue | `him-queue` (RabbitMQ and its in-memory twin); [`worker`] consumes it and settles every job through [`worker::disposition`] |
//! | decode | `him-decode` (charts), `him_asr::decode_audio` (dictations) |
//! | ocr / asr | [`chart`] and [`dictation`] on the bounded engine pools of [`pool`] (`him-ocr`, `him-asr`) |
//! | extract / match | [`identity`] over `him-extract` |
//! | file | [`pipeline`] and [`filing`] into `him-store`'s typed layout |
//! | review | `him-review` (`him review`, `him user`; the default feature `review`), fed by the events the [`worker`] publishes |
//! | EHR | `him-interfaces` (`him deliver`: the outbox to HL7 MDM over MLLP and FHIR R4; `him adt`: ADT in into `him-patients`) |
//!
//! Around them: [`cli`] (clap), [`commands`] (what each subcommand runs), [`startup`] (configuration,
//! store, pools, runtime), [`config`] (`pipeline.toml`), [`metrics`] (Prometheus endpoint of `him worker`),
//! [`process`] (`him process`, the pipeline in-process), [`launcher`] (engine environment, logging),
//! [`doctor`] (`him doctor`: is everything the stages need there, and what to do when not).
//!
//! The review UI is the default feature `review`: `cargo build --release --no-default-features` builds a
//! worker-only `him` whose dependency graph holds no `him-review` (and none of its web stack and databases).

pub mod batch;
pub mod chart;
pub mod cleanup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod coversheet;
pub mod dictation;
pub mod doctor;
pub mod drop_folder;
pub mod filing;
pub mod identity;
pub mod intake;
pub mod intake_api;
pub mod launcher;
pub mod metrics;
pub mod pipeline;
pub mod pool;
pub mod process;
pub mod startup;
pub mod worker;
