//! The service commands: `submit`, `worker`, `dlq`, `serve`, `watch`, `review`, `user` (the last two with
//! the default feature `review`).
//!
//! Each loads the shared setup, runs on the async runtime, and maps failures to exit codes: 0 success,
//! 1 when some input failed, 2 for usage, configuration or environment errors.

#[cfg(feature = "review")]
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use him_queue::{Queue, WorkKind};
use tracing::{error, info};

use crate::cli::{SubmitArgs, WorkerArgs};
use crate::metrics::Metrics;
use crate::pipeline::{Engines, Pipeline};
use crate::startup::{self, CommonArgs};

/// Runs a fallible command body; an error is printed and becomes exit code 2.
fn exit(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::from(2)
    })
}

/// `him submit`.
pub fn submit(args: SubmitArgs) -> ExitCode {
    exit((|| {
        let setup = startup::load(&args.common)?;
        startup::runtime()?.block_on(async {
            let queue = Queue::connect(&setup.config.queue)
                .await
                .with_context(|| format!("cannot reach the queue at {}", setup.config.queue.redacted_url()))?;
            let mut failed = false;
            for path in &crate::intake::documents(&args.files) {
                let read = async {
                    let demographics = crate::intake::read_sidecar(path)?;
                    let bytes = tokio::fs::read(path).await.context("cannot read input")?;
                    anyhow::Ok((bytes, demographics))
                };
                let line = match read.await {
                    Ok((bytes, demographics)) => {
                        let request = crate::intake::JobRequest {
                            stat: args.stat,
                            station: args.station.as_deref(),
                            demographics: demographics.as_ref(),
                        };
                        match crate::intake::submit(&setup.store, &queue, Bytes::from(bytes), request).await {
                            Ok(submitted) => serde_json::to_value(&submitted)?,
                            Err(failure) => {
                                failed = true;
                                error!(error = %failure, "submission failed");
                                serde_json::json!({ "status": "error", "error": format!("{failure:#}") })
                            }
                        }
                    }
                    Err(error) => {
                        failed = true;
                        serde_json::json!({ "status": "error", "error": format!("{error:#}") })
                    }
                };
                let mut line = line;
                if let Some(object) = line.as_object_mut() {
                    object.insert("input".to_string(), path.display().to_string().into());
                }
                println!("{line}");
            }
            queue.close().await;
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        })
    })())
}

/// `him worker`.
pub fn worker(args: WorkerArgs) -> ExitCode {
    exit((|| {
        let mut setup = startup::load(&args.common)?;
        if let Some(workers) = args.workers {
            setup.config.ocr.workers = workers;
            setup.config.asr.workers = workers;
        }
        let kinds = args
            .kinds
            .iter()
            .map(|kind| match kind.trim() {
                "charts" => Ok(WorkKind::Charts),
                "dictations" => Ok(WorkKind::Dictations),
                other => anyhow::bail!("unknown work kind {other:?} (charts, dictations)"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let patients = startup::load_patients(&setup.config, args.patients.as_deref())?;
        let ocr = Arc::new(startup::start_ocr_pool(&setup.config)?);
        let asr = if kinds.contains(&WorkKind::Dictations) {
            let (pool, version) = startup::start_asr_pool(&setup.config)?;
            Some((Arc::new(pool), version))
        } else {
            None
        };
        let concurrency = ocr
            .size()
            .max(asr.as_ref().map_or(0, |(pool, _)| pool.size()));
        let engines = Engines {
            ocr: Arc::clone(&ocr),
            ocr_version: him_ocr::tesseract_version(),
            asr_version: asr.as_ref().map(|(_, version)| version.clone()),
            asr: asr.as_ref().map(|(pool, _)| Arc::clone(pool)),
        };
        let worker_config = setup.config.worker.clone();
        let queue_config = setup.config.queue.clone();
        let pipeline = Arc::new(Pipeline::new(setup.config, setup.store, engines, patients));
        let metrics = Arc::new(Metrics::default());
        startup::runtime()?.block_on(async {
            pipeline
                .follow_patient_changes(Some(startup::MPI_REFRESH))
                .await?;
            if !worker_config.metrics_listen.is_empty() {
                let metrics = Arc::clone(&metrics);
                let listen = worker_config.metrics_listen.clone();
                tokio::spawn(async move {
                    if let Err(error) =
                        crate::metrics::serve_metrics(metrics, &listen, std::future::pending())
                            .await
                    {
                        error!(error = %error, "metrics endpoint failed");
                    }
                });
            }
            let queue = Queue::connect(&queue_config).await.with_context(|| {
                format!("cannot reach the queue at {}", queue_config.redacted_url())
            })?;
            crate::worker::run(
                pipeline,
                queue,
                &kinds,
                concurrency,
                &worker_config,
                metrics,
                startup::shutdown_signal(),
            )
            .await
        })?;
        ocr.shutdown();
        if let Some((pool, _)) = asr {
            pool.shutdown();
        }
        info!("worker stopped");
        Ok(ExitCode::SUCCESS)
    })())
}

/// `him dlq list`.
pub fn dlq_list(common: &CommonArgs, limit: usize) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        startup::runtime()?.block_on(async {
            let queue = Queue::connect(&setup.config.queue).await?;
            for dead in queue.list_dead_letters(limit).await? {
                println!(
                    "{}",
                    serde_json::json!({
                        "document_id": dead.document_id,
                        "kind": dead.kind,
                        "reason": dead.reason,
                        "deliveries": dead.count,
                        "queue": dead.first_death_queue,
                    })
                );
            }
            queue.close().await;
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `him dlq replay ID` and `him dlq replay --all`.
pub fn dlq_replay(common: &CommonArgs, id: Option<&str>, all: bool) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        startup::runtime()?.block_on(async {
            let queue = Queue::connect(&setup.config.queue).await?;
            let replayed = match (id, all) {
                (_, true) => queue.replay_all().await?,
                (Some(id), false) => queue.replay(id).await?,
                (None, false) => anyhow::bail!("give a document id or --all"),
            };
            queue.close().await;
            println!("{}", serde_json::json!({ "replayed": replayed }));
            Ok(if replayed == 0 && !all {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        })
    })())
}

/// `him serve`: the scanning-station intake API.
pub fn serve(common: &CommonArgs) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        let tokens = crate::intake_api::station_tokens(&setup.env, &setup.config.intake)?;
        startup::runtime()?.block_on(async {
            let queue = Queue::connect(&setup.config.queue).await?;
            let state = crate::intake_api::IntakeState {
                store: setup.store,
                queue: queue.clone(),
                tokens,
                max_upload_bytes: setup.config.intake.max_upload_bytes,
            };
            crate::intake_api::serve_intake(
                state,
                &setup.config.intake.listen,
                startup::shutdown_signal(),
            )
            .await?;
            queue.close().await;
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `him watch DIR`.
pub fn watch(common: &CommonArgs, dir: &Path) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        startup::runtime()?.block_on(async {
            let queue = Queue::connect(&setup.config.queue).await?;
            crate::drop_folder::watch(
                dir,
                setup.store,
                queue.clone(),
                setup.config.watch.clone(),
                startup::shutdown_signal(),
            )
            .await?;
            queue.close().await;
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `him review` and `him review --reindex`.
#[cfg(feature = "review")]
pub fn review(common: &CommonArgs, reindex_only: bool) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        startup::runtime()?.block_on(async {
            if reindex_only {
                let db = him_review::Db::connect(
                    &setup.config.review.database,
                    setup.config.review.database_connections,
                )?;
                let (_, count) = him_review::rebuild(&setup.store, &db).await?;
                println!("{}", serde_json::json!({ "indexed": count }));
                return Ok(ExitCode::SUCCESS);
            }
            // The review assigns documents only to patients of the index the pipeline matches against.
            let index = startup::load_patients(&setup.config, None)?.unwrap_or_default();
            let live = Arc::new(him_patients::LiveIndex::new(setup.store.clone(), index));
            live.refresh().await?;
            live.spawn_refresh(startup::MPI_REFRESH);
            let patients = him_review::Patients {
                live,
                mrn_system: setup.config.patients.mrn_system.clone(),
            };
            him_review::serve(
                setup.config.review.clone(),
                setup.store,
                patients,
                Some(setup.config.queue.clone()),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `him deliver [--once]`.
pub fn deliver(common: &CommonArgs, once: bool) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        let destinations = him_interfaces::deliver::destinations(
            &setup.config.hl7,
            &setup.config.fhir,
            &setup.env,
        )?;
        anyhow::ensure!(
            !destinations.is_empty(),
            "no destination configured: set [hl7] send_to and/or [fhir] base_url"
        );
        startup::runtime()?.block_on(async {
            let index = startup::load_patients(&setup.config, None)?.unwrap_or_default();
            let patients = Arc::new(him_patients::LiveIndex::new(setup.store.clone(), index));
            patients.refresh().await?;
            patients.spawn_refresh(startup::MPI_REFRESH);
            let mut deliverer = him_interfaces::deliver::Deliverer::new(
                setup.store.clone(),
                patients,
                destinations,
                setup.config.deliver.clone(),
            );
            if once {
                let pass = deliverer.pass().await?;
                println!("{}", serde_json::to_string(&pass)?);
                return Ok(if pass.pending > 0 {
                    ExitCode::from(75)
                } else {
                    ExitCode::SUCCESS
                });
            }
            info!(
                destinations = deliverer.destination_names().join(","),
                "delivering"
            );
            deliverer.run(startup::shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `him adt`: the ADT listener.
pub fn adt(common: &CommonArgs) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        anyhow::ensure!(
            !setup.config.hl7.listen.trim().is_empty(),
            "no listener configured: set [hl7] listen"
        );
        startup::runtime()?.block_on(async {
            him_patients::ensure_journaled(&setup.store).await?;
            him_interfaces::adt::listen(
                setup.store.clone(),
                &setup.config.hl7,
                startup::shutdown_signal(),
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `him migrate`: journals the records an earlier release wrote without one; prints what it wrote.
pub fn migrate(common: &CommonArgs) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        startup::runtime()?.block_on(async {
            let started = std::time::Instant::now();
            let mpi = him_patients::migrate(&setup.store).await?;
            let outbox = him_interfaces::outbox::migrate(&setup.store).await?;
            println!(
                "{}",
                serde_json::json!({
                    "mpi_changes_journaled": mpi,
                    "outbox_events_journaled": outbox,
                    "seconds": started.elapsed().as_secs_f64(),
                })
            );
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `him adt unmerge --survivor S --merged M`.
pub fn unmerge(common: &CommonArgs, survivor: &str, merged: &str, by: &str) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        startup::runtime()?.block_on(async {
            let index = startup::load_patients(&setup.config, None)?.unwrap_or_default();
            let live = him_patients::LiveIndex::new(setup.store.clone(), index);
            live.refresh().await?;
            anyhow::ensure!(
                live.merges().is_merged(survivor, merged),
                "no such merge in the patient index changes"
            );
            let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let digest = <sha2::Sha256 as sha2::Digest>::digest(
                format!("unmerge|{survivor}|{merged}|{at}").as_bytes(),
            );
            let id = him_interfaces::hex(&digest[..16]);
            let record = him_patients::ChangeRecord {
                id,
                received_at: at,
                sender: format!("cli^{by}"),
                control_id: String::new(),
                message_type: "unmerge".to_string(),
                change: him_patients::MpiChange::Unmerge {
                    survivor: survivor.to_string(),
                    merged: merged.to_string(),
                },
            };
            him_patients::record_change(&setup.store, &record).await?;
            println!(
                "{}",
                serde_json::json!({ "unmerged": true, "change": record.id })
            );
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `him interfaces`.
pub fn interfaces(common: &CommonArgs) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        let mut names =
            him_interfaces::deliver::configured_names(&setup.config.hl7, &setup.config.fhir);
        if names.is_empty() {
            names = vec!["hl7", "fhir"];
        }
        startup::runtime()?.block_on(async {
            for row in him_interfaces::deliver::status(&setup.store, &names).await? {
                println!("{}", serde_json::to_string(&row)?);
            }
            Ok(ExitCode::SUCCESS)
        })
    })())
}

/// `him interfaces replay DESTINATION EVENT`.
pub fn interfaces_replay(
    common: &CommonArgs,
    destination: &str,
    event: &str,
    by: &str,
) -> ExitCode {
    exit((|| {
        anyhow::ensure!(
            matches!(destination, "hl7" | "fhir"),
            "destination must be hl7 or fhir"
        );
        let setup = startup::load(common)?;
        startup::runtime()?.block_on(async {
            let replayed =
                him_interfaces::deliver::replay(&setup.store, destination, event, by).await?;
            println!("{}", serde_json::json!({ "replayed": replayed }));
            Ok(if replayed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        })
    })())
}

/// Records an account change made on the command line in the audit log (user `cli`, address `local`).
#[cfg(feature = "review")]
fn audit_cli(
    setup: &startup::Setup,
    db: &him_review::Db,
    action: &str,
    detail: &str,
) -> anyhow::Result<()> {
    let event = him_review::AuditEvent::now("cli", action, None, "local", detail);
    startup::runtime()?
        .block_on(him_review::record_audit(&setup.store, db, &event))
        .context("cannot write the audit record")
}

/// `him user add NAME --role ROLE [--author NAME]` (role and author given) and `him user passwd NAME`.
#[cfg(feature = "review")]
pub fn user(common: &CommonArgs, name: &str, role: Option<(&str, Option<&str>)>) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        let db = him_review::Db::connect(
            &setup.config.review.database,
            setup.config.review.database_connections,
        )?;
        let password = match setup.env.get("HIM_PASSWORD") {
            Some(password) => password.clone(),
            None => {
                eprint!("password: ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_string()
            }
        };
        match role {
            Some((role, author)) => {
                let role: him_review::Role = role
                    .parse()
                    .map_err(|_| anyhow::anyhow!("unknown role {role:?}"))?;
                let user = him_review::add_user(&db, name, role, &password, author)?;
                audit_cli(&setup, &db, "user_add", &format!("{} as {role}", user.name))?;
                println!(
                    "{}",
                    serde_json::json!({ "user": user.name, "role": user.role.to_string() })
                );
            }
            None => {
                him_review::set_password(&db, name, &password)?;
                audit_cli(&setup, &db, "user_password", name)?;
                println!(
                    "{}",
                    serde_json::json!({ "user": name, "password": "changed" })
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })())
}

/// `him user list`: one JSON line per account, without password hashes.
#[cfg(feature = "review")]
pub fn user_list(common: &CommonArgs) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        let db = him_review::Db::connect(
            &setup.config.review.database,
            setup.config.review.database_connections,
        )?;
        for user in him_review::list_users(&db)? {
            println!(
                "{}",
                serde_json::json!({
                    "name": user.name, "role": user.role.to_string(), "author": user.author,
                    "disabled": user.disabled,
                })
            );
        }
        Ok(ExitCode::SUCCESS)
    })())
}

/// `him user disable NAME` (`disabled`) and `him user enable NAME`.
#[cfg(feature = "review")]
pub fn user_disable(common: &CommonArgs, name: &str, disabled: bool) -> ExitCode {
    exit((|| {
        let setup = startup::load(common)?;
        let db = him_review::Db::connect(
            &setup.config.review.database,
            setup.config.review.database_connections,
        )?;
        him_review::set_disabled(&db, name, disabled)?;
        let action = if disabled {
            "user_disable"
        } else {
            "user_enable"
        };
        audit_cli(&setup, &db, action, name)?;
        println!(
            "{}",
            serde_json::json!({ "user": name, "disabled": disabled })
        );
        Ok(ExitCode::SUCCESS)
    })())
}

/// `him user unlock [NAME] [--address IP]`: clears the recorded login failures of a user name, an address or
/// both.
#[cfg(feature = "review")]
pub fn user_unlock(common: &CommonArgs, name: Option<&str>, address: Option<&str>) -> ExitCode {
    exit((|| {
        let address = address
            .map(|address| {
                address
                    .trim()
                    .parse::<std::net::IpAddr>()
                    .map(|ip| ip.to_canonical().to_string())
                    .map_err(|_| anyhow::anyhow!("--address {address:?} is not an IP address"))
            })
            .transpose()?;
        let setup = startup::load(common)?;
        let db = him_review::Db::connect(
            &setup.config.review.database,
            setup.config.review.database_connections,
        )?;
        let removed = him_review::unlock(&db, name, address.as_deref())?;
        let detail = format!(
            "name {}; address {}; {removed} failures removed",
            name.unwrap_or("-"),
            address.as_deref().unwrap_or("-")
        );
        audit_cli(&setup, &db, "unlock", &detail)?;
        println!(
            "{}",
            serde_json::json!({ "name": name, "address": address, "failures_removed": removed })
        );
        Ok(ExitCode::SUCCESS)
    })())
}

/// `him coversheet`: writes a cover-sheet PDF. Prints nothing about the patient; errors name the rule, never
/// a value.
pub fn coversheet(args: crate::cli::CoversheetArgs) -> ExitCode {
    use crate::coversheet::{new_sheet_id, render_pdf, CoverSheet, PrintedText};
    use him_extract::Date;
    exit((|| {
        let env: std::collections::HashMap<String, String> = std::env::vars().collect();
        let config = crate::config::PipelineConfig::load(args.common.config.as_deref(), &env)?;
        let parse_date = |text: &str, what: &str| {
            Date::parse_iso(text).with_context(|| format!("--{what} must be a date YYYY-MM-DD"))
        };
        let mut printed = PrintedText::default();
        let mut dob = args
            .dob
            .as_deref()
            .map(|d| parse_date(d, "dob"))
            .transpose()?;
        if let Some(path) = &args.patients {
            let index = crate::identity::load_index(
                path,
                config.patients.check_digit,
                config.patients.mrn_strip_leading_zeros,
            )?;
            let record = match index.by_mrn(&args.mrn).as_slice() {
                [record] => (*record).clone(),
                [] => anyhow::bail!("no patient of the index holds that MRN"),
                _ => anyhow::bail!("the index holds that MRN more than once"),
            };
            let indexed = record
                .birth_date
                .context("the patient's date of birth is not in the index")?;
            if dob.is_some_and(|given| given != indexed) {
                anyhow::bail!("--dob is not the index's date of birth for that MRN");
            }
            dob = Some(indexed);
            printed.patient_name = Some(format!("{}, {}", record.family, record.given.join(" ")));
        }
        let sheet = CoverSheet {
            mrn: args.mrn.clone(),
            authority: args.authority.clone().unwrap_or_else(|| {
                if config.batch.authority.is_empty() {
                    "LOCAL".to_string()
                } else {
                    config.batch.authority.clone()
                }
            }),
            date_of_birth: dob.context("--dob is required without --patients")?,
            encounter: args.encounter.clone(),
            document_type: args.document_type.clone(),
            date_of_service: args
                .dos
                .as_deref()
                .map(|d| parse_date(d, "dos"))
                .transpose()?,
            sheet_id: Some(new_sheet_id()),
            pages: args.pages,
        };
        printed.document_type_display = sheet
            .document_type
            .as_deref()
            .and_then(him_extract::loinc_display)
            .map(str::to_string);
        let pdf = render_pdf(&sheet, &printed)?;
        std::fs::write(&args.out, pdf)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
        Ok(ExitCode::SUCCESS)
    })())
}
