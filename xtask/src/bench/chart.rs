//! The README's chart: one small panel per figure, Rust and Python side by side, each panel on
//! its own scale (the figures have different units). Plain SVG, written by hand: a dependency
//! for a dozen rectangles would cost more build time than it saves.

use std::fmt::Write as _;

pub struct Panel {
    pub title: String,
    pub unit: &'static str,
    pub rust: f64,
    pub python: f64,
    /// "lower is better" for times and memory, not for throughput.
    pub lower_is_better: bool,
}

const RUST: &str = "#b7410e";
const PYTHON: &str = "#3572a5";
const COLUMNS: usize = 3;
const PANEL_W: f64 = 300.0;
const PANEL_H: f64 = 120.0;
const BAR_X: f64 = 70.0;
const BAR_MAX: f64 = 150.0;

pub fn svg(title: &str, panels: &[Panel]) -> String {
    let rows = panels.len().div_ceil(COLUMNS);
    let (width, height) = (PANEL_W * COLUMNS as f64 + 20.0, PANEL_H * rows as f64 + 60.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r#"<rect x="10" y="32" width="10" height="10" fill="{RUST}"/><text x="24" y="41">Rust</text><rect x="70" y="32" width="10" height="10" fill="{PYTHON}"/><text x="84" y="41">Python peer (comparison)</text>"#
    );
    for (i, panel) in panels.iter().enumerate() {
        let x = 10.0 + (i % COLUMNS) as f64 * PANEL_W;
        let y = 55.0 + (i / COLUMNS) as f64 * PANEL_H;
        write_panel(&mut out, panel, x, y);
    }
    out.push_str("</svg>\n");
    out
}

fn write_panel(out: &mut String, panel: &Panel, x: f64, y: f64) {
    let better = if panel.lower_is_better {
        "lower is better"
    } else {
        "higher is better"
    };
    let _ = writeln!(
        out,
        r##"<text x="{x}" y="{}" font-weight="bold">{}</text><text x="{x}" y="{}" fill="#666">{} ({better})</text>"##,
        y + 14.0,
        escape(&panel.title),
        y + 29.0,
        panel.unit
    );
    let max = panel.rust.max(panel.python).max(f64::MIN_POSITIVE);
    for (row, (name, value, colour)) in [("Rust", panel.rust, RUST), ("Python", panel.python, PYTHON)]
        .into_iter()
        .enumerate()
    {
        let bar_y = y + 40.0 + row as f64 * 28.0;
        let width = (value / max * BAR_MAX).max(1.0);
        let _ = writeln!(
            out,
            r#"<text x="{x}" y="{}">{name}</text><rect x="{}" y="{bar_y}" width="{width:.1}" height="20" fill="{colour}"/><text x="{:.1}" y="{}">{}</text>"#,
            bar_y + 14.0,
            x + BAR_X,
            x + BAR_X + width + 4.0,
            bar_y + 14.0,
            figure(value)
        );
    }
}

/// Three significant figures, whatever the magnitude.
pub fn figure(value: f64) -> String {
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_panel_per_figure_with_both_bars() {
        let panels = vec![
            Panel {
                title: "init <create-user>".into(),
                unit: "ms",
                rust: 5.0,
                python: 500.0,
                lower_is_better: true,
            },
            Panel {
                title: "throughput".into(),
                unit: "emails/s",
                rust: 120.0,
                python: 40.0,
                lower_is_better: false,
            },
        ];
        let svg = svg("t", &panels);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("init &lt;create-user&gt;") && svg.contains(">500<") && svg.contains(">5.00<"));
        assert_eq!(svg.matches("<rect").count(), 1 + 2 + 2 * panels.len());
    }
}
