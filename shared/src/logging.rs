//! How both functions log when they run in Lambda: one JSON object per line
//! with `timestamp` (RFC 3339) and `level` at the top, as Lambda's advanced
//! logging controls expect of the JSON log format, at the level Lambda names
//! in `AWS_LAMBDA_LOG_LEVEL` (the function's `ApplicationLogLevel`), else
//! `RUST_LOG`, else `info`.
//!
//! A line is `{"timestamp":…,"level":…,"target":…,"message":…, the event's
//! fields, then the fields of the spans it is in}`; the Lambda runtime's span
//! puts `requestId` and `xrayTraceId` on every line of an invocation. The
//! formatter writes each line straight out: `tracing-subscriber`'s own JSON
//! format re-parsed each span's stored fields for every line, twice (what
//! that cost is in `docs/performance.md`).

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

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
        .fmt_fields(JsonFields)
        .event_format(JsonLines)
        .init();
}

/// Formats an event as one JSON object on one line (see the module docs).
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        let metadata = event.metadata();
        write!(writer, "\",\"level\":\"{}\",\"target\":", metadata.level())?;
        write_json_str(&mut writer, metadata.target())?;
        let mut fields = JsonFieldWriter::new(&mut writer, true);
        event.record(&mut fields);
        fields.result?;
        // The spans' fields, outermost first, as `JsonFields` stored them.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(stored) = extensions.get::<FormattedFields<N>>() {
                    if !stored.fields.is_empty() {
                        writer.write_char(',')?;
                        writer.write_str(&stored.fields)?;
                    }
                }
            }
        }
        writer.write_str("}\n")
    }
}

/// Stores a span's fields as JSON members without braces (`"a":1,"b":"x"`),
/// ready for [`JsonLines`] to copy into each line.
pub struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = JsonFieldWriter::new(&mut writer, false);
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let had_fields = !current.fields.is_empty();
        let mut writer = current.as_writer();
        if had_fields {
            writer.write_char(',')?;
        }
        let mut visitor = JsonFieldWriter::new(&mut writer, false);
        fields.record(&mut visitor);
        visitor.result
    }
}

/// Writes fields as JSON members, each preceded by a comma except, when the
/// members start an object fragment, the first.
struct JsonFieldWriter<'a, 'w> {
    writer: &'a mut Writer<'w>,
    needs_comma: bool,
    result: fmt::Result,
}

impl<'a, 'w> JsonFieldWriter<'a, 'w> {
    fn new(writer: &'a mut Writer<'w>, after_members: bool) -> Self {
        Self {
            writer,
            needs_comma: after_members,
            result: Ok(()),
        }
    }

    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'w>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if self.needs_comma {
                self.writer.write_char(',')?;
            }
            self.needs_comma = true;
            write_json_str(self.writer, field.name())?;
            self.writer.write_char(':')?;
            value(self.writer)
        })();
    }
}

impl Visit for JsonFieldWriter<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_json_str(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Escaped as it is formatted, without an intermediate String.
        self.member(field, |w| write_json_str(w, &format_args!("{value:?}")));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: those are written as strings.
        if value.is_finite() {
            self.member(field, |w| write!(w, "{value}"));
        } else {
            self.member(field, |w| write!(w, "\"{value}\""));
        }
    }
}

/// `value` as a JSON string, quotes included, escaped by `serde_json`.
fn write_json_str(writer: &mut impl fmt::Write, value: &(impl serde::Serialize + ?Sized)) -> fmt::Result {
    serde_json::to_writer(IoToFmt(writer), value).map_err(|_| fmt::Error)
}

/// `serde_json` writes to an `io::Write`; the line being built is a
/// `fmt::Write`. It writes whole UTF-8 runs (escapes are ASCII), so each
/// chunk it hands over is a `str`.
struct IoToFmt<W>(W);

impl<W: fmt::Write> std::io::Write for IoToFmt<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(bytes).map_err(std::io::Error::other)?;
        self.0.write_str(text).map_err(std::io::Error::other)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{json, Value};

    use super::*;

    /// The lines logged while `body` runs, through the Lambda subscriber's format.
    fn lines(body: impl FnOnce()) -> Vec<String> {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .fmt_fields(JsonFields)
            .event_format(JsonLines)
            .with_writer(move || SharedBuffer(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, body);
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'), "{text}");
        text.lines().map(str::to_owned).collect()
    }

    struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_line_is_one_json_object_with_the_event_and_its_spans_fields() {
        let hostile = "quote \" backslash \\ newline \n tab \t bell \u{7} del \u{7f} é \u{1F600}";
        let logged = lines(|| {
            let invocation = tracing::info_span!(
                "Lambda runtime invoke",
                requestId = %"8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                xrayTraceId = tracing::field::Empty
            );
            let _in_invocation = invocation.enter();
            invocation.record("xrayTraceId", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700");
            let inner = tracing::debug_span!("inner", step = 2u8);
            let _in_inner = inner.enter();
            tracing::info!(
                route = "token",
                status = 200u16,
                micros = 12u64,
                delta = -3i64,
                cached = true,
                ratio = 0.5,
                missing = f64::NAN,
                hostile,
                error = ?hostile,
                "request"
            );
            tracing::warn!("a {} message", "formatted");
        });
        assert_eq!(logged.len(), 2, "{logged:?}");
        let first: Value = serde_json::from_str(&logged[0]).unwrap_or_else(|e| panic!("{e}: {}", logged[0]));
        let timestamp = first["timestamp"].as_str().unwrap();
        // RFC 3339 in UTC, to the microsecond: 2026-11-28T07:30:00.123456Z.
        assert_eq!(timestamp.len(), 27, "{timestamp}");
        assert!(
            timestamp.as_bytes()[10] == b'T' && timestamp.ends_with('Z') && timestamp.as_bytes()[19] == b'.',
            "{timestamp}"
        );
        let mut rest = first.clone();
        rest.as_object_mut().unwrap().remove("timestamp");
        assert_eq!(
            rest,
            json!({
                "level": "INFO",
                "target": "shared::logging::tests",
                "message": "request",
                "route": "token",
                "status": 200,
                "micros": 12,
                "delta": -3,
                "cached": true,
                "ratio": 0.5,
                "missing": "NaN",
                "hostile": hostile,
                "error": format!("{hostile:?}"),
                "requestId": "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                "xrayTraceId": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700",
                "step": 2,
            })
        );
        // The order a reader sees: timestamp and level first, the event's own fields before the spans'.
        assert!(logged[0].starts_with("{\"timestamp\":"), "{}", logged[0]);
        let position = |key: &str| logged[0].find(&format!("\"{key}\":")).unwrap();
        assert!(position("level") < position("message") && position("message") < position("requestId"));
        assert!(position("requestId") < position("step"));

        let second: Value = serde_json::from_str(&logged[1]).unwrap();
        assert_eq!(second["level"], "WARN");
        assert_eq!(second["message"], "a formatted message");
        assert_eq!(second["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
    }

    #[test]
    fn a_line_outside_any_span_has_only_its_own_fields() {
        let logged = lines(|| tracing::error!(reason = "x", "introspection failed; denying"));
        let line: Value = serde_json::from_str(&logged[0]).unwrap();
        assert_eq!(line["message"], "introspection failed; denying");
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line.as_object().unwrap().len(), 5, "{line}");
    }

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
