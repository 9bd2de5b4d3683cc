//! Process start-up: the environment the engines need, logging, and a panic hook that never prints content.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::sync::Mutex;

use indicatif::ProgressBar;

/// Variable set on the re-executed process, so a failed re-exec can never loop.
const REEXEC_GUARD: &str = "HIM_REEXECUTED";

/// Makes sure `OMP_THREAD_LIMIT=1` is in the environment **the process started with**.
///
/// Tesseract's OpenMP runtime reads the variable once, when the library loads, so setting it from `main` has
/// no effect. When it is missing, the binary re-executes itself with it set (same arguments, same
/// environment otherwise). A site that wants OpenMP threads inside one engine can set `OMP_THREAD_LIMIT`
/// itself; only an unset variable is changed.
pub fn ensure_engine_environment() {
    if std::env::var_os("OMP_THREAD_LIMIT").is_some() || std::env::var_os(REEXEC_GUARD).is_some() {
        return;
    }
    let Ok(executable) = std::env::current_exe() else {
        return;
    };
    let error = std::process::Command::new(executable)
        .args(std::env::args_os().skip(1))
        .env("OMP_THREAD_LIMIT", "1")
        .env(REEXEC_GUARD, "1")
        .exec();
    // exec only returns on failure; carry on single-process rather than refuse to run.
    eprintln!("warning: could not re-execute with OMP_THREAD_LIMIT=1 ({error}); OCR may be slow");
}

/// Logs to stderr, filtered by `HIM_LOG` (default `info`), and replaces the panic message printer. Colour
/// codes only when stderr is a terminal, so that log files and journald stay plain text.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(|| LogWriter)
        .with_target(false)
        .try_init();
    std::panic::set_hook(Box::new(|info| {
        // The payload of a panic can quote input; log only where it happened.
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(location = %location, "internal error (panic); the job is contained");
    }));
}

/// The progress bar on stderr while `him process` runs, so that log lines are written around it.
static PROGRESS_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Registers the progress bar that log lines must not be drawn into; `None` when it is done.
pub fn set_progress_bar(bar: Option<ProgressBar>) {
    *PROGRESS_BAR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = bar;
}

/// stderr for log lines: while a progress bar is drawn, the bar is cleared, the line written, and the bar
/// drawn again below it.
struct LogWriter;

impl LogWriter {
    fn around_bar<R>(write: impl FnOnce() -> R) -> R {
        let bar = PROGRESS_BAR
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(write),
            _ => write(),
        }
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::around_bar(|| std::io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        Self::around_bar(|| std::io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
