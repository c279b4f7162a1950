//! How both functions log when they run in Lambda: one JSON object per line
//! with `timestamp` (RFC 3339) and `level` at the top, as Lambda's advanced
//! logging controls expect of the JSON log format, at the level Lambda names
//! in `AWS_LAMBDA_LOG_LEVEL` (the function's `ApplicationLogLevel`), else
//! `RUST_LOG`, else `info`.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// The filter for a log level named as Lambda names them (`TRACE` ... `FATAL`)
/// or as a `RUST_LOG` directive; an unknown name keeps the default, `info`.
pub fn level_filter(aws_lambda_log_level: Option<&str>, rust_log: Option<&str>) -> EnvFilter {
    match (aws_lambda_log_level, rust_log) {
        (Some(level), _) => {
            let level = match level.trim().to_ascii_uppercase().as_str() {
                // Lambda's FATAL has no tracing level: the closest is ERROR.
                "FATAL" | "ERROR" => LevelFilter::ERROR,
                "WARN" => LevelFilter::WARN,
                "DEBUG" => LevelFilter::DEBUG,
                "TRACE" => LevelFilter::TRACE,
                _ => LevelFilter::INFO,
            };
            EnvFilter::default().add_directive(level.into())
        }
        (None, Some(directives)) => EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info")),
        (None, None) => EnvFilter::new("info"),
    }
}

/// Installs the JSON-lines subscriber on standard output, for the whole process.
pub fn init_json_lines() {
    let aws = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    tracing_subscriber::fmt()
        .with_env_filter(level_filter(aws.as_deref(), rust_log.as_deref()))
        .json()
        .flatten_event(true)
        .with_ansi(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_wins_over_rust_log() {
        assert_eq!(
            level_filter(Some("WARN"), Some("debug")).max_level_hint(),
            Some(LevelFilter::WARN)
        );
        assert_eq!(
            level_filter(Some("fatal"), None).max_level_hint(),
            Some(LevelFilter::ERROR)
        );
        assert_eq!(
            level_filter(Some("DEBUG"), None).max_level_hint(),
            Some(LevelFilter::DEBUG)
        );
        assert_eq!(
            level_filter(None, Some("trace")).max_level_hint(),
            Some(LevelFilter::TRACE)
        );
        assert_eq!(level_filter(None, None).max_level_hint(), Some(LevelFilter::INFO));
        assert_eq!(
            level_filter(Some("LOUD"), None).max_level_hint(),
            Some(LevelFilter::INFO)
        );
    }
}
