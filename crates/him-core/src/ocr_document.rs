//! `ocr.json`: the words read on each page of a chart, filed beside its text. The pipeline writes it; the
//! review boxes fields and low-confidence words with it, and `examples/reidentify` re-runs matching over it.

use serde::{Deserialize, Serialize, Serializer};

use crate::manifest::PageSource;
use crate::ocr::OcrWord;

/// The `ocr.json` of a chart: the engine and the words of every page.
///
/// The bytes are those earlier releases wrote by way of `serde_json::Value`, so that a document filed again
/// writes the same object: keys in alphabetical order at every level (the fields below are declared in that
/// order, and a new one must take its alphabetical place), and confidences written with the digits of an
/// `f64` (`95.8388671875`, not `95.83887`). Reading ignores keys it does not know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcrDocument {
    /// The OCR engine and its version (`tesseract 5.3.0`), as the manifest records it.
    pub engine: String,
    /// One entry per page of the document, in page order.
    pub pages: Vec<OcrDocumentPage>,
}

/// The words of one page of an [`OcrDocument`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcrDocumentPage {
    /// Height of the upright page raster the words were read from, in pixels; 0 for a page without one
    /// (a PDF text layer, an unrendered page).
    pub height: u32,
    /// Mean word confidence (0–100) of the OCR pass kept; `None` where no OCR pass gave a result.
    #[serde(serialize_with = "serialize_wide_confidence")]
    pub mean_confidence: Option<f32>,
    /// Page number in the document, counting from 1 (a document split out of a batch counts its own pages).
    pub number: u32,
    /// How the page's text was obtained.
    pub source: PageSource,
    /// Width of the upright page raster the words were read from, in pixels; 0 for a page without one.
    pub width: u32,
    /// The words read, in reading order, with boxes in the pixels of that raster.
    #[serde(serialize_with = "serialize_words")]
    pub words: Vec<OcrWord>,
}

/// An [`OcrWord`] as `ocr.json` writes it: keys in alphabetical order, the confidence as an `f64`.
#[derive(Serialize)]
struct StoredWord<'a> {
    bbox: &'a [u32; 4],
    confidence: f64,
    line: u32,
    text: &'a str,
}

fn serialize_words<S: Serializer>(words: &[OcrWord], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(words.iter().map(|word| StoredWord {
        bbox: &word.bbox,
        confidence: f64::from(word.confidence),
        line: word.line,
        text: &word.text,
    }))
}

fn serialize_wide_confidence<S: Serializer>(
    confidence: &Option<f32>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    confidence.map(f64::from).serialize(serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str, confidence: f32, bbox: [u32; 4], line: u32) -> OcrWord {
        OcrWord {
            text: text.to_string(),
            confidence,
            bbox,
            line,
        }
    }

    fn sample() -> OcrDocument {
        OcrDocument {
            engine: "tesseract 5.3.0".to_string(),
            pages: vec![
                OcrDocumentPage {
                    number: 1,
                    width: 1700,
                    height: 2200,
                    source: PageSource::OcrRendered,
                    mean_confidence: Some(94.0),
                    words: vec![
                        word("MRN:", 95.838_87, [153, 157, 72, 25], 1),
                        word("Müller \"Jr\"", 41.3, [343, 157, 191, 25], 2),
                    ],
                },
                OcrDocumentPage {
                    number: 2,
                    width: 0,
                    height: 0,
                    source: PageSource::TextLayer,
                    mean_confidence: None,
                    words: Vec::new(),
                },
            ],
        }
    }

    /// The bytes are exactly those the `json!` writer of earlier releases produced.
    #[test]
    fn an_ocr_document_is_written_as_earlier_releases_wrote_it() {
        let expected = concat!(
            r#"{"engine":"tesseract 5.3.0","pages":["#,
            r#"{"height":2200,"mean_confidence":94.0,"number":1,"source":"ocr_rendered","width":1700,"words":["#,
            r#"{"bbox":[153,157,72,25],"confidence":95.8388671875,"line":1,"text":"MRN:"},"#,
            r#"{"bbox":[343,157,191,25],"confidence":41.29999923706055,"line":2,"text":"Müller \"Jr\""}]},"#,
            r#"{"height":0,"mean_confidence":null,"number":2,"source":"text_layer","width":0,"words":[]}]}"#,
        );
        let document = sample();
        assert_eq!(
            String::from_utf8(serde_json::to_vec(&document).unwrap()).unwrap(),
            expected
        );
        // The writer of earlier releases, as it was: a borrowed page struct inside `json!`.
        #[derive(Serialize)]
        struct OcrJsonPage<'a> {
            number: u32,
            width: u32,
            height: u32,
            source: PageSource,
            mean_confidence: Option<f32>,
            words: &'a [OcrWord],
        }
        let earlier = serde_json::json!({
            "engine": document.engine,
            "pages": document.pages.iter().map(|p| OcrJsonPage {
                number: p.number,
                width: p.width,
                height: p.height,
                source: p.source,
                mean_confidence: p.mean_confidence,
                words: &p.words,
            }).collect::<Vec<_>>(),
        });
        assert_eq!(
            String::from_utf8(serde_json::to_vec(&earlier).unwrap()).unwrap(),
            expected
        );
    }

    /// A file of an earlier release reads back to the same value and is written again byte for byte, keys
    /// it does not know (an early fixture's `document_id`) ignored.
    #[test]
    fn an_ocr_document_of_an_earlier_release_reads_and_rewrites_the_same() {
        let written = serde_json::to_vec(&sample()).unwrap();
        let read: OcrDocument = serde_json::from_slice(&written).unwrap();
        assert_eq!(read, sample());
        assert_eq!(serde_json::to_vec(&read).unwrap(), written);
        let with_extra =
            br#"{"document_id":"f1379b7ea443afb88b895d460f944eeb","engine":"e","pages":[
            {"height":2,"mean_confidence":null,"number":1,"source":"ocr","width":1,"words":[
            {"bbox":[1,2,3,4],"confidence":96.7520980834961,"line":1,"text":"NEWMAN"}]}]}"#;
        let read: OcrDocument = serde_json::from_slice(with_extra).unwrap();
        assert_eq!(
            f64::from(read.pages[0].words[0].confidence),
            96.752_098_083_496_1
        );
        assert_eq!(read.pages[0].words[0].bbox, [1, 2, 3, 4]);
    }

    /// `OcrWord` keeps its own form elsewhere (declared order, `f32` digits); only `ocr.json` writes it wide.
    #[test]
    fn an_ocr_word_alone_is_serialized_as_before() {
        let bytes = serde_json::to_vec(&word("MRN:", 41.3, [1, 2, 3, 4], 7)).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"text":"MRN:","confidence":41.3,"bbox":[1,2,3,4],"line":7}"#
        );
    }
}
