//! Rendering PDF pages with poppler's `pdftoppm`, for pages whose images `him` cannot decode natively
//! (JBIG2, JPEG 2000, inline images, vector drawings).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use him_core::PageImage;
use image::ImageFormat;

use crate::raster::decode_to_gray;
use crate::LimitsConfig;

/// How long one page may take to render before it is abandoned.
const RENDER_TIMEOUT: Duration = Duration::from_secs(60);

/// The fallback renderer; absent when `pdftoppm` is not installed.
#[derive(Debug, Clone)]
pub struct Renderer {
    pdftoppm: Option<PathBuf>,
    dpi: u32,
}

impl Renderer {
    /// Looks for `pdftoppm` on `PATH`.
    pub fn detect(dpi: u32) -> Self {
        let pdftoppm = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("pdftoppm"))
                .find(|candidate| candidate.is_file())
        });
        Renderer { pdftoppm, dpi }
    }

    /// A renderer that never renders (pages needing it are reported as unrendered).
    pub fn disabled() -> Self {
        Renderer {
            pdftoppm: None,
            dpi: 300,
        }
    }

    /// Whether pages can be rendered.
    pub fn available(&self) -> bool {
        self.pdftoppm.is_some()
    }

    /// Renders page `number` (from 1) of `pdf` to gray. `page_points` is the page size in PDF points, used to
    /// keep the raster under the pixel limit.
    pub(crate) fn render(
        &self,
        pdf: &[u8],
        number: u32,
        page_points: Option<(f64, f64)>,
        limits: &LimitsConfig,
    ) -> Result<PageImage, String> {
        let Some(pdftoppm) = &self.pdftoppm else {
            return Err("page needs rendering and pdftoppm is not installed".to_string());
        };
        let mut dpi = f64::from(self.dpi);
        if let Some((width, height)) = page_points {
            let pixels = (width / 72.0 * dpi) * (height / 72.0 * dpi);
            if pixels > limits.max_page_pixels as f64 {
                dpi *= (limits.max_page_pixels as f64 / pixels).sqrt() * 0.99;
            }
        }
        let dpi = dpi.max(1.0).floor() as u32;
        let folder =
            tempfile::tempdir().map_err(|e| format!("cannot create render folder: {e}"))?;
        let input = folder.path().join("in.pdf");
        std::fs::File::create(&input)
            .and_then(|mut file| file.write_all(pdf))
            .map_err(|e| format!("cannot write render input: {e}"))?;
        let prefix = folder.path().join("page");
        let mut child = Command::new(pdftoppm)
            .args(["-q", "-gray", "-png", "-r", &dpi.to_string()])
            .args([
                "-f",
                &number.to_string(),
                "-l",
                &number.to_string(),
                "-singlefile",
            ])
            .arg(&input)
            .arg(&prefix)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start pdftoppm: {e}"))?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > RENDER_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "pdftoppm took longer than {}s",
                        RENDER_TIMEOUT.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("cannot wait for pdftoppm: {e}")),
            }
        };
        if !status.success() {
            return Err(format!("pdftoppm failed with {status}"));
        }
        let png = std::fs::read(prefix.with_extension("png"))
            .map_err(|e| format!("pdftoppm wrote no page: {e}"))?;
        let image = decode_to_gray(&png, ImageFormat::Png, limits).map_err(|r| r.detail)?;
        Ok(image.with_dpi(Some(dpi)))
    }
}
