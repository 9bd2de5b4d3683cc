//! The tesseract engine over tesseract's C API.
//!
//! The C API is used directly (not a wrapper crate) because orientation detection
//! (`TessBaseAPIDetectOrientationScript`) and TSV output with per-word boxes are not exposed by the wrappers.
#![expect(
    unsafe_code,
    reason = "FFI to libtesseract's C API; every call is wrapped here"
)]

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr;

use him_core::{EngineError, OcrEngine, OcrPage, Orientation, PageImage, PageSegMode};
use tesseract_sys as sys;

use crate::config::OcrConfig;
use crate::error::{Error, Result};
use crate::tsv::parse_words;

/// Lowest and highest resolutions passed on to tesseract; anything else is treated as undeclared.
const PLAUSIBLE_DPI: std::ops::RangeInclusive<u32> = 70..=2400;

/// The version of the linked libtesseract.
pub fn tesseract_version() -> String {
    // SAFETY: TessVersion returns a pointer to a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(sys::TessVersion()) };
    format!("tesseract {}", version.to_string_lossy())
}

/// One owned `TessBaseAPI` handle.
struct Handle(*mut sys::TessBaseAPI);

impl Handle {
    fn init(tessdata: &str, language: &str) -> Result<Self> {
        let invalid = |name| Error::InvalidSetting { name };
        let c_language = CString::new(language).map_err(|_| invalid("language"))?;
        let c_tessdata = CString::new(tessdata).map_err(|_| invalid("tessdata_dir"))?;
        // SAFETY: TessBaseAPICreate returns a fresh handle owned by this struct and deleted in Drop.
        let handle = Handle(unsafe { sys::TessBaseAPICreate() });
        let datapath = if tessdata.is_empty() {
            ptr::null()
        } else {
            c_tessdata.as_ptr()
        };
        // SAFETY: the handle is valid; the strings outlive the call.
        let status = unsafe { sys::TessBaseAPIInit3(handle.0, datapath, c_language.as_ptr()) };
        if status != 0 {
            return Err(Error::LanguageData {
                language: language.to_string(),
                tessdata: tessdata.to_string(),
            });
        }
        // Tesseract starts when the first language loads and drops the others it cannot find with a message
        // on stderr: `eng+spa` without spa data would read every Spanish chart as English.
        let loaded = handle.languages();
        let missing: Vec<&str> = requested_languages(language)
            .filter(|wanted| !loaded.iter().any(|have| have == wanted))
            .collect();
        if !missing.is_empty() {
            return Err(Error::LanguageData {
                language: missing.join("+"),
                tessdata: tessdata.to_string(),
            });
        }
        // Tesseract prints diagnostics ("Estimating resolution as ...") to stderr; keep operational logs ours.
        handle.set_variable("debug_file", "/dev/null");
        Ok(handle)
    }

    /// The languages tesseract loaded, in load order.
    fn languages(&self) -> Vec<String> {
        // SAFETY: valid handle after a successful Init3; the array is NULL-terminated, owned by the caller and
        // released with TessDeleteTextArray once its strings are copied.
        unsafe {
            let array = sys::TessBaseAPIGetLoadedLanguagesAsVector(self.0);
            if array.is_null() {
                return Vec::new();
            }
            let mut languages = Vec::new();
            let mut cursor = array;
            while !(*cursor).is_null() {
                languages.push(CStr::from_ptr(*cursor).to_string_lossy().into_owned());
                cursor = cursor.add(1);
            }
            sys::TessDeleteTextArray(array);
            languages
        }
    }

    /// The folder tesseract read the language data from.
    fn data_path(&self) -> String {
        // SAFETY: valid handle after a successful Init3; the string belongs to the handle and is copied at once.
        let path = unsafe { sys::TessBaseAPIGetDatapath(self.0) };
        if path.is_null() {
            return String::new();
        }
        // SAFETY: non-null and NUL-terminated.
        unsafe { CStr::from_ptr(path) }
            .to_string_lossy()
            .into_owned()
    }

    fn set_variable(&self, name: &str, value: &str) {
        let (Ok(name), Ok(value)) = (CString::new(name), CString::new(value)) else {
            return;
        };
        // SAFETY: valid handle and NUL-terminated strings that outlive the call.
        unsafe { sys::TessBaseAPISetVariable(self.0, name.as_ptr(), value.as_ptr()) };
    }

    fn set_image(&self, image: &PageImage, default_dpi: u32) {
        let dpi = image
            .dpi
            .filter(|dpi| PLAUSIBLE_DPI.contains(dpi))
            .unwrap_or(default_dpi);
        // SAFETY: `pixels` holds width × height bytes (checked by PageImage::new) and stays borrowed while
        // tesseract uses it: every caller reads the results before `image` goes out of scope, and the image is
        // cleared before the next one is set.
        unsafe {
            sys::TessBaseAPISetImage(
                self.0,
                image.pixels.as_ptr(),
                image.width as c_int,
                image.height as c_int,
                1,
                image.width as c_int,
            );
            sys::TessBaseAPISetSourceResolution(self.0, dpi as c_int);
        }
    }

    /// Takes ownership of a string tesseract allocated.
    fn take_text(text: *mut c_char) -> Option<String> {
        if text.is_null() {
            return None;
        }
        // SAFETY: non-null, NUL-terminated, allocated by tesseract and released with TessDeleteText once copied.
        let owned = unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned();
        unsafe { sys::TessDeleteText(text) };
        Some(owned)
    }

    fn clear(&self) {
        // SAFETY: valid handle; clearing drops tesseract's reference to the last image.
        unsafe { sys::TessBaseAPIClear(self.0) };
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was created by TessBaseAPICreate and is deleted exactly once.
        unsafe {
            sys::TessBaseAPIEnd(self.0);
            sys::TessBaseAPIDelete(self.0);
        }
    }
}

/// A tesseract instance for one pool thread. Not `Send`: it is created on the thread that uses it.
pub struct TesseractEngine {
    recognizer: Handle,
    /// Orientation detector, started on first use (most pages never need it).
    osd: Option<Handle>,
    detect_orientation: bool,
    tessdata: String,
    default_dpi: u32,
    version: String,
}

impl TesseractEngine {
    /// Starts tesseract with the configured language data.
    pub fn new(config: &OcrConfig) -> Result<Self> {
        let recognizer = Handle::init(&config.tessdata_dir, &config.language)?;
        Ok(TesseractEngine {
            recognizer,
            osd: None,
            detect_orientation: config.detect_orientation,
            tessdata: config.tessdata_dir.clone(),
            default_dpi: config.default_dpi,
            version: tesseract_version(),
        })
    }

    /// The languages the recognizer loaded (`eng`, `spa`), without the orientation data.
    pub fn languages(&self) -> Vec<String> {
        self.recognizer.languages()
    }

    /// The folder tesseract read the language data from: `[ocr] tessdata_dir`, `TESSDATA_PREFIX`, or the
    /// folder compiled into libtesseract.
    pub fn data_path(&self) -> String {
        self.recognizer.data_path()
    }

    /// Starts the orientation detector now rather than at the first page that needs it, so that missing
    /// `osd.traineddata` shows before a page does (`him doctor`); `false` when detection is turned off.
    pub fn load_orientation_data(&mut self) -> Result<bool> {
        Ok(self.osd()?.is_some())
    }

    /// The orientation detector, started on first use; `None` when disabled.
    fn osd(&mut self) -> Result<Option<&Handle>> {
        if !self.detect_orientation {
            return Ok(None);
        }
        if self.osd.is_none() {
            let osd = Handle::init(&self.tessdata, "osd")?;
            // SAFETY: valid handle.
            unsafe { sys::TessBaseAPISetPageSegMode(osd.0, sys::TessPageSegMode_PSM_OSD_ONLY) };
            self.osd = Some(osd);
        }
        Ok(self.osd.as_ref())
    }
}

/// The languages a `+`-separated setting asks tesseract to load (a `~lang` entry asks it not to).
fn requested_languages(setting: &str) -> impl Iterator<Item = &str> {
    setting
        .split('+')
        .map(str::trim)
        .filter(|language| !language.is_empty() && !language.starts_with('~'))
}

fn psm(mode: PageSegMode) -> sys::TessPageSegMode {
    match mode {
        PageSegMode::Auto => sys::TessPageSegMode_PSM_AUTO,
        PageSegMode::SingleBlock => sys::TessPageSegMode_PSM_SINGLE_BLOCK,
        PageSegMode::Sparse => sys::TessPageSegMode_PSM_SPARSE_TEXT,
    }
}

fn failed(detail: &str) -> EngineError {
    EngineError::Failed {
        engine: "tesseract",
        detail: detail.to_string(),
    }
}

impl OcrEngine for TesseractEngine {
    fn version(&self) -> String {
        self.version.clone()
    }

    fn recognize(&mut self, image: &PageImage, mode: PageSegMode) -> him_core::Result<OcrPage> {
        let handle = &self.recognizer;
        // SAFETY: valid handle.
        unsafe { sys::TessBaseAPISetPageSegMode(handle.0, psm(mode)) };
        handle.set_image(image, self.default_dpi);
        // SAFETY: valid handle with an image set; the monitor may be null.
        let status = unsafe { sys::TessBaseAPIRecognize(handle.0, ptr::null_mut()) };
        if status != 0 {
            handle.clear();
            return Err(failed("recognition returned an error status"));
        }
        // SAFETY: valid handle after a successful Recognize.
        let text = Handle::take_text(unsafe { sys::TessBaseAPIGetUTF8Text(handle.0) });
        let tsv = Handle::take_text(unsafe { sys::TessBaseAPIGetTsvText(handle.0, 0) });
        let mean_confidence = unsafe { sys::TessBaseAPIMeanTextConf(handle.0) };
        handle.clear();
        let (Some(text), Some(tsv)) = (text, tsv) else {
            return Err(failed("no text returned after recognition"));
        };
        Ok(OcrPage {
            text,
            mean_confidence: mean_confidence.max(0) as f32,
            words: parse_words(&tsv),
            mode,
        })
    }

    fn detect_orientation(
        &mut self,
        image: &PageImage,
    ) -> him_core::Result<Option<(Orientation, f32)>> {
        let default_dpi = self.default_dpi;
        let Some(osd) = self.osd()? else {
            return Ok(None);
        };
        osd.set_image(image, default_dpi);
        let mut degrees: c_int = 0;
        let mut confidence: f32 = 0.0;
        let mut script: *const c_char = ptr::null();
        let mut script_confidence: f32 = 0.0;
        // SAFETY: valid handle with an image set; all out-pointers point at live locals. The script name
        // points into tesseract's static unicharset and is not freed.
        let found = unsafe {
            sys::TessBaseAPIDetectOrientationScript(
                osd.0,
                &mut degrees,
                &mut confidence,
                &mut script,
                &mut script_confidence,
            )
        };
        osd.clear();
        if found == 0 {
            return Ok(None);
        }
        // Tesseract reports the angle the page content is turned by, counter-clockwise (a page turned to the
        // left reads 270); making it upright takes a clockwise rotation of 360 minus that angle.
        Ok(Orientation::from_degrees(360 - i64::from(degrees)).map(|o| (o, confidence)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_languages_skip_empty_and_excluded_entries() {
        let requested: Vec<&str> = requested_languages("eng+ spa++~fra").collect();
        assert_eq!(requested, ["eng", "spa"]);
    }

    /// A language whose data is missing is refused by name, also behind one that loads (tesseract itself
    /// would start without it); needs tesseract with its English data (apt-get install tesseract-ocr-eng).
    #[test]
    fn missing_language_data_is_refused_by_name() {
        let config = OcrConfig {
            language: "eng+zzz".to_string(),
            ..OcrConfig::default()
        };
        match TesseractEngine::new(&config) {
            Err(Error::LanguageData { language, .. }) => assert_eq!(language, "zzz"),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("eng+zzz started without zzz"),
        }
    }

    /// The engine says what it loaded and from where; needs tesseract-ocr-eng and tesseract-ocr-osd.
    #[test]
    fn engine_reports_its_languages_and_data_folder() {
        let mut engine = TesseractEngine::new(&OcrConfig::default())
            .expect("tesseract with English data (apt-get install tesseract-ocr-eng)");
        assert_eq!(engine.languages(), ["eng"]);
        let folder = engine.data_path();
        assert!(
            std::path::Path::new(&folder)
                .join("eng.traineddata")
                .is_file(),
            "{folder:?}"
        );
        assert!(engine
            .load_orientation_data()
            .expect("orientation data (apt-get install tesseract-ocr-osd)"));
    }
}
