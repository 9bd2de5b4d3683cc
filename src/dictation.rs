//! The dictation stage of the pipeline: decode the audio and transcribe it on the speech-to-text pool, flag
//! risky segments, and extract the spoken header's identity.

use std::time::Instant;

use bytes::Bytes;
use him_core::{JobDemographics, Kind, MediaType, RejectReason, RiskFlag};
use tracing::warn;

use crate::identity::identify_transcript;
use crate::pipeline::{mean, Pipeline, Prepared, Stage};
use crate::pool::PoolError;
use him_asr::decode_audio;
use him_core::Rejection;
use him_extract::FieldName;
use him_store::Object;

impl Pipeline {
    /// Decodes a dictation, transcribes it, and extracts and matches its identity.
    pub(crate) async fn prepare_dictation(
        &self,
        original: Bytes,
        media: MediaType,
        demographics: Option<&JobDemographics>,
    ) -> anyhow::Result<Stage> {
        let Some(pool) = &self.engines.asr else {
            return Err(
                anyhow::Error::new(crate::pipeline::EngineUnavailable("speech-to-text"))
                    .context("run models/fetch-whisper.sh and check [asr] model_path"),
            );
        };
        let limits = self.config.audio.clone();
        let result = pool
            .run(move |engine| {
                let clip = decode_audio(&original, media, &limits)?;
                let started = Instant::now();
                let transcript = engine.transcribe(&clip);
                Ok::<_, Rejection>((
                    clip.duration_ms(),
                    transcript,
                    started.elapsed().as_secs_f64(),
                ))
            })
            .await;
        let (duration_ms, transcript, engine_seconds) = match result {
            Ok(Ok(decoded)) => decoded,
            Ok(Err(rejection)) => return Ok(Stage::Rejected(rejection)),
            Err(PoolError::Panicked) => {
                return Ok(Stage::Rejected(Rejection::new(
                    RejectReason::EngineFailed,
                    "transcription failed on this input",
                )))
            }
            Err(error) => return Err(error.into()),
        };
        let transcript = match transcript {
            Ok(transcript) => transcript,
            Err(error) if error.is_transient() => {
                return Err(anyhow::Error::new(error).context("speech-to-text engine unavailable"))
            }
            Err(error) => {
                warn!(error = %error, "transcription failed");
                return Ok(Stage::Rejected(Rejection::new(
                    RejectReason::EngineFailed,
                    error.to_string(),
                )));
            }
        };
        let keyed_mrn = demographics.and_then(JobDemographics::mrn_compact);
        let encounter = demographics.and_then(|d| d.encounter.as_deref());
        let index = self.patient_index();
        let identity = identify_transcript(
            &transcript.segments,
            keyed_mrn.as_deref(),
            encounter,
            index.as_deref(),
            &self.config.patients,
            &self.config.matching,
        );
        let mut risk_flags: Vec<_> = him_asr::transcript_flags(&transcript).into_iter().collect();
        // A keyed MRN the spoken header contradicts: the flag names the field that disagrees.
        for field in identity
            .decision
            .iter()
            .flat_map(|decision| &decision.disagreements)
        {
            let flag = match field {
                // The keyed encounter is another patient's visit: the keyed identifiers are in doubt.
                FieldName::Mrn | FieldName::Encounter => RiskFlag::DemographicsMismatchMrn,
                FieldName::DateOfBirth => RiskFlag::DemographicsMismatchDob,
                _ => RiskFlag::DemographicsMismatchName,
            };
            if !risk_flags.contains(&flag) {
                risk_flags.push(flag);
            }
        }
        let confidence = mean(
            transcript
                .segments
                .iter()
                .flat_map(|s| s.words.iter().map(|w| w.probability * 100.0)),
        );
        let objects = vec![
            (Object::Text, Bytes::from(transcript.text())),
            (
                Object::Transcript,
                Bytes::from(serde_json::to_vec(&transcript)?),
            ),
        ];
        Ok(Stage::Ready(Box::new(Prepared {
            kind: Kind::Dictation,
            objects,
            pages: Vec::new(),
            identity,
            engine_seconds,
            duration_ms: Some(duration_ms),
            risk_flags,
            confidence,
            batch: None,
        })))
    }
}
