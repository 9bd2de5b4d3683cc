//! Fake engines for tests of the pipeline and the worker without tesseract or whisper.cpp (feature
//! `testsuite`). The real engines keep their own suites.

use crate::{
    AsrEngine, AudioClip, EngineError, OcrEngine, OcrPage, OcrWord, Orientation, PageImage,
    PageSegMode, Result, Transcript, TranscriptSegment,
};

/// What a fake engine does when asked to read.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeBehaviour {
    /// Returns this text.
    Read(String),
    /// Panics (an engine crashing on hostile input).
    Panic,
    /// Fails with an error that retrying may fix.
    Unavailable,
}

/// An OCR engine that "reads" a fixed text on every page, each whitespace-separated token a word with
/// confidence 90 on its own line position.
#[derive(Debug, Clone)]
pub struct FakeOcr {
    pub behaviour: FakeBehaviour,
}

impl FakeOcr {
    /// An engine reading `text` on every page.
    pub fn reading(text: &str) -> Self {
        FakeOcr {
            behaviour: FakeBehaviour::Read(text.to_string()),
        }
    }
}

impl OcrEngine for FakeOcr {
    fn version(&self) -> String {
        "fake-ocr 1".to_string()
    }

    fn recognize(&mut self, image: &PageImage, mode: PageSegMode) -> Result<OcrPage> {
        let text = match &self.behaviour {
            FakeBehaviour::Read(text) => text,
            FakeBehaviour::Panic => panic!("fake OCR engine panicked"),
            FakeBehaviour::Unavailable => {
                return Err(EngineError::Init {
                    engine: "fake-ocr",
                    detail: "unavailable".to_string(),
                })
            }
        };
        let mut words = Vec::new();
        for (line_index, line) in text.lines().enumerate() {
            for (index, token) in line.split_whitespace().enumerate() {
                words.push(OcrWord {
                    text: token.to_string(),
                    confidence: 90.0,
                    bbox: [
                        (index as u32 * 60).min(image.width.saturating_sub(1)),
                        (line_index as u32 * 20).min(image.height.saturating_sub(1)),
                        50,
                        16,
                    ],
                    line: line_index as u32 + 1,
                });
            }
        }
        Ok(OcrPage {
            text: text.clone(),
            mean_confidence: 90.0,
            words,
            mode,
        })
    }

    fn detect_orientation(&mut self, _image: &PageImage) -> Result<Option<(Orientation, f32)>> {
        Ok(None)
    }
}

/// A speech-to-text engine that "hears" a fixed text in every clip, as one segment.
#[derive(Debug, Clone)]
pub struct FakeAsr {
    pub behaviour: FakeBehaviour,
}

impl AsrEngine for FakeAsr {
    fn version(&self) -> String {
        "fake-asr 1".to_string()
    }

    fn transcribe(&mut self, clip: &AudioClip) -> Result<Transcript> {
        let text = match &self.behaviour {
            FakeBehaviour::Read(text) => text.clone(),
            FakeBehaviour::Panic => panic!("fake speech engine panicked"),
            FakeBehaviour::Unavailable => {
                return Err(EngineError::Init {
                    engine: "fake-asr",
                    detail: "unavailable".to_string(),
                })
            }
        };
        Ok(Transcript {
            language: "en".to_string(),
            segments: vec![TranscriptSegment {
                text,
                start_ms: 0,
                end_ms: clip.duration_ms(),
                avg_logprob: -0.1,
                no_speech_prob: 0.01,
                temperature: 0.0,
                words: Vec::new(),
                flags: Vec::new(),
            }],
        })
    }
}
