//! `cargo xtask status`: what runs where.

use crate::layout::Layout;
use crate::local::process::ServiceRecord;
use crate::local::services;
use anyhow::Result;

pub async fn run(layout: &Layout) -> Result<()> {
    let mut rows: Vec<Vec<String>> = services::ALL
        .iter()
        .rev()
        .map(|name| row(name, ServiceRecord::load(&layout.run_dir(), name)))
        .collect();
    let env = layout.stack_env();
    if env.exists() {
        rows.push(vec!["coordinates".into(), env.display().to_string()]);
    }
    print!("{}", table(&rows));
    Ok(())
}

fn row(name: &str, record: Option<ServiceRecord>) -> Vec<String> {
    let cells: Vec<String> = match record {
        Some(r) if r.is_running() => vec![
            "running".into(),
            format!("pid {}", r.pid),
            r.url().unwrap_or_else(|| "-".into()),
            format!("log {}", r.log.display()),
        ],
        Some(r) => vec![
            "dead".into(),
            format!("(was pid {}; `cargo xtask up` restarts it)", r.pid),
        ],
        None => vec!["stopped".into()],
    };
    std::iter::once(name.to_owned()).chain(cells).collect()
}

/// Rows as aligned columns, each as wide as its widest cell. A row's last cell is not padded
/// and does not widen its column, so a long path or note at the end of a row moves nothing.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let inner = rows.iter().filter(|r| c + 1 < r.len());
            inner.map(|r| r[c].chars().count()).max().unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let (last, padded) = row.split_last().expect("a row has a name");
        for (c, cell) in padded.iter().enumerate() {
            out.push_str(&format!("{cell:<w$}  ", w = widths[c]));
        }
        out.push_str(last);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn columns_line_up_whatever_the_longest_cell() {
        let rows = [
            row(&["cargo-lambda-watch", "running", "pid 7", "log a"]),
            row(&["x", "stopped"]),
            row(&["sqs-bridge", "running", "pid 12345678", "log b"]),
            row(&["coordinates", "/a/path/longer/than/any/cell/above/stack.env"]),
        ];
        let text = super::table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "cargo-lambda-watch  running  pid 7         log a");
        assert_eq!(lines[1], "x                   stopped");
        assert_eq!(lines[2], "sqs-bridge          running  pid 12345678  log b");
        assert_eq!(
            lines[3],
            "coordinates         /a/path/longer/than/any/cell/above/stack.env"
        );
    }
}
