//! Printing results: aligned tables and short lines for people, one JSON
//! document for scripts (`--json`), and RFC 3339 times.

use serde::Serialize;

/// Prints `value` as JSON with `--json`, else what `human` renders.
pub fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            // Views are plain strings, numbers and lists: this cannot fail.
            Err(e) => eprintln!("error: cannot encode the result as JSON: {e}"),
        }
    } else {
        let text = human();
        if !text.is_empty() {
            println!("{}", text.trim_end_matches('\n'));
        }
    }
}

/// Columns padded to their widest cell, two spaces apart.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let width = |column: usize| {
            let cells = self.rows.iter().filter_map(|r| r.get(column)).map(|c| c.chars().count());
            cells.chain([self.headers[column].len()]).max().unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> =
                cells.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}", w = *w)).collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut out = line(self.headers.clone());
        for row in &self.rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        out
    }
}

/// "key: value" lines, the keys aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    pairs.iter().map(|(k, v)| format!("{:<width$} {v}\n", format!("{k}:"))).collect()
}

/// A protobuf timestamp as RFC 3339 UTC; "" when absent.
pub fn timestamp(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map(|t| unix_to_rfc3339(t.seconds)).unwrap_or_default()
}

/// Unix seconds as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ`; the number itself
/// for a time RFC 3339 cannot write (before year 0 or after 9999).
pub fn unix_to_rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_format_as_rfc3339_utc() {
        assert_eq!(unix_to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(unix_to_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(unix_to_rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(unix_to_rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(unix_to_rfc3339(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn table_columns_are_aligned_to_the_widest_cell() {
        let mut table = Table::new(&["NAME", "ROLES"]);
        table.row(vec!["root".into(), "admin".into()]);
        table.row(vec!["alexandra".into(), "".into()]);
        assert_eq!(table.render(), "NAME       ROLES\nroot       admin\nalexandra\n");
    }

    #[test]
    fn fields_align_their_values() {
        assert_eq!(fields(&[("id", "1".into()), ("username", "x".into())]), "id:       1\nusername: x\n");
    }
}
