//! Integration tests: golden extraction over Synthea notes with synthetic chart headers, matching
//! safety over the same patients, and document-type classification over MTSamples.

mod common;
mod mtsamples;
mod synthea;
