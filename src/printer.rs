//! The `Printer` owns everything written to stderr: messages, warnings, progress and log verbosity.
//! Reports go to stdout (or `--output`); nothing else does.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
    Trace,
}

#[derive(Debug, Clone)]
pub struct Printer {
    verbosity: Verbosity,
    progress: bool,
}

impl Printer {
    pub fn new(quiet: bool, verbose: u8, no_progress: bool) -> Printer {
        let verbosity = match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, 1) => Verbosity::Verbose,
            _ => Verbosity::Trace,
        };
        let progress =
            !no_progress && verbosity == Verbosity::Normal && std::io::stderr().is_terminal();
        Printer {
            verbosity,
            progress,
        }
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// Send `tracing` events to stderr at the chosen verbosity. Our own events only below `-vv`:
    /// dependencies' debug output is noisy and is the one place headers could appear.
    pub fn init_tracing(&self) {
        let filter = match self.verbosity {
            Verbosity::Quiet => "error",
            Verbosity::Normal => "warn",
            Verbosity::Verbose => "warn,gdap_audit=debug",
            Verbosity::Trace => "info,gdap_audit=trace",
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_target(false)
            .without_time()
            .try_init();
    }

    /// A status line for humans (hidden with `-q`).
    pub fn info(&self, msg: impl AsRef<str>) {
        if self.verbosity != Verbosity::Quiet {
            eprintln!("{}", msg.as_ref());
        }
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        if self.verbosity != Verbosity::Quiet {
            eprintln!("warning: {}", msg.as_ref());
        }
    }

    /// Errors are always shown.
    pub fn error(&self, msg: impl AsRef<str>) {
        eprintln!("error: {}", msg.as_ref());
    }

    /// A spinner for a long step, or a no-op handle when progress is off (not a terminal, `-q`, `-v`).
    pub fn spinner(&self, msg: &str) -> Progress {
        if !self.progress {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        #[expect(
            clippy::expect_used,
            reason = "a constant template, checked by every run"
        )]
        let style =
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(msg.to_owned());
        Progress {
            bar: Some(Arc::new(bar)),
        }
    }
}

/// A progress handle; cheap to clone into callbacks.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<Arc<ProgressBar>>,
}

impl Progress {
    pub fn set(&self, msg: impl Into<String>) {
        if let Some(b) = &self.bar {
            b.set_message(msg.into());
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
