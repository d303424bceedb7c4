//! The sweep's chart (`bench/sweep.svg`), after AWS Lambda Power Tuning's: a panel per workload,
//! one point per memory size labelled in MB, cost against latency, a line through each
//! language's points in the order of the sizes. Both axes span the points' own range (the
//! figures at their ends say where), so that sizes costing nearly the same stay apart.

use super::{AXIS_W, FONT, PYTHON, RUST, escape, figure, panels_svg, text_width};
use std::fmt::Write as _;

/// One panel: each language's points, in the order the line joins them.
pub struct Scatter {
    pub title: String,
    /// What the axes measure, with their units (y's in the subtitle, x's under the axis).
    pub x_unit: &'static str,
    pub y_unit: &'static str,
    /// `(label, x, y)`; Python's empty where it did not run.
    pub rust: Vec<(String, f64, f64)>,
    pub python: Vec<(String, f64, f64)>,
}

impl Scatter {
    fn subtitle(&self) -> String {
        format!("{}, lower left is better", self.y_unit)
    }
}

const PLOT_W: f64 = 300.0;
const PLOT_H: f64 = 170.0;
/// Right of the plot: room for a point's label (up to "10240").
const LABEL_ROOM: f64 = 48.0;
/// Between a point and its label.
const LABEL_OFFSET: f64 = 5.0;
const SCATTER_PANEL_H: f64 = PLOT_H + 90.0;

/// `bench/sweep.svg`: a panel per [`Scatter`], three to a row.
pub fn scatter_svg(title: &str, panels: &[Scatter]) -> String {
    let widths = |p: &Scatter| {
        [
            text_width(&p.title, FONT),
            text_width(&p.subtitle(), FONT),
            AXIS_W + PLOT_W + LABEL_ROOM,
        ]
    };
    panels_svg(title, panels, widths, SCATTER_PANEL_H, write_scatter)
}

/// The range an axis shows: the values', widened by a tenth on each side (never below zero), or
/// around the one value there is.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi - lo > f64::EPSILON * hi.abs().max(1.0) {
        (hi - lo) / 10.0
    } else {
        hi.abs().max(1.0) / 10.0
    };
    ((lo - pad).max(0.0), hi + pad)
}

fn write_scatter(out: &mut String, panel: &Scatter, x: f64, y: f64) {
    let _ = writeln!(
        out,
        r##"<text x="{x}" y="{}" font-weight="bold">{}</text><text x="{x}" y="{}" fill="#666">{}</text>"##,
        y + 14.0,
        escape(&panel.title),
        y + 29.0,
        escape(&panel.subtitle())
    );
    let points = || panel.rust.iter().chain(&panel.python);
    let (x_lo, x_hi) = span(points().map(|p| p.1));
    let (y_lo, y_hi) = span(points().map(|p| p.2));
    let (left, top) = (x + AXIS_W, y + 45.0);
    let bottom = top + PLOT_H;
    let px = |v: f64| left + (v - x_lo) / (x_hi - x_lo) * PLOT_W;
    let py = |v: f64| bottom - (v - y_lo) / (y_hi - y_lo) * PLOT_H;
    // The axes, the figures at their ends, and what the x axis measures.
    let _ = writeln!(
        out,
        r##"<path d="M{left} {top}V{bottom}H{}" stroke="#999" fill="none"/>"##,
        left + PLOT_W
    );
    let _ = writeln!(
        out,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#666">{}</text><text x="{}" y="{bottom}" text-anchor="end" fill="#666">{}</text>"##,
        left - 4.0,
        top + 10.0,
        figure(y_hi),
        left - 4.0,
        figure(y_lo)
    );
    let _ = writeln!(
        out,
        r##"<text x="{left}" y="{}" text-anchor="start" fill="#666">{}</text><text x="{}" y="{}" text-anchor="end" fill="#666">{}</text>"##,
        bottom + 15.0,
        figure(x_lo),
        left + PLOT_W,
        bottom + 15.0,
        figure(x_hi)
    );
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#666">{}</text>"##,
        left + PLOT_W / 2.0,
        bottom + 30.0,
        escape(panel.x_unit)
    );
    // Rust's labels above its points, Python's below, so that points close together keep both.
    for (line, colour, label_dy) in [
        (&panel.rust, RUST, -LABEL_OFFSET),
        (&panel.python, PYTHON, 3.0 * LABEL_OFFSET),
    ] {
        let path: Vec<String> = line.iter().map(|p| format!("{:.1},{:.1}", px(p.1), py(p.2))).collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" stroke="{colour}" stroke-width="1.5" fill="none"/>"#,
            path.join(" ")
        );
        for (label, vx, vy) in line {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"><title>{} MB: {} / {}</title></circle><text x="{:.1}" y="{:.1}" fill="{colour}">{}</text>"#,
                px(*vx),
                py(*vy),
                escape(label),
                figure(*vx),
                figure(*vy),
                px(*vx) + LABEL_OFFSET,
                py(*vy) + label_dy,
                escape(label)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::texts;
    use super::*;

    fn points(sizes: &[u64], scale: f64) -> Vec<(String, f64, f64)> {
        sizes
            .iter()
            .map(|&mb| {
                (
                    mb.to_string(),
                    scale * 3500.0 * 128.0 / mb as f64,
                    4.0 + mb as f64 / 1000.0,
                )
            })
            .collect()
    }

    #[test]
    fn a_point_per_size_and_language_labelled_in_mb() {
        let sizes = [128, 256, 512, 1024, 1769];
        let panels = [
            Scatter {
                title: "create-user (BCRYPT_COST=12)".into(),
                x_unit: "warm p50 (ms)",
                y_unit: "$ per million invocations",
                rust: points(&sizes, 1.0),
                python: points(&sizes, 1.1),
            },
            Scatter {
                title: "send-email (batches of 10)".into(),
                x_unit: "warm p50 (ms)",
                y_unit: "$ per million invocations",
                rust: points(&[128, 10_240], 0.1),
                python: Vec::new(),
            },
        ];
        let svg = scatter_svg("Memory-size sweep", &panels);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 2 * sizes.len() + 2);
        assert_eq!(svg.matches("<polyline").count(), 4, "a line per language and panel");
        assert!(svg.contains(">1769</text>") && svg.contains(">10240</text>"));
        assert!(svg.contains("lower left is better") && svg.contains(">warm p50 (ms)<"));
        let (width, texts) = texts(&svg);
        for (x, _, size, text) in texts {
            assert!(x + text_width(&text, size) <= width, "{text:?} runs past the chart");
        }
    }

    #[test]
    fn the_axes_span_the_points() {
        assert_eq!(span([2.0, 12.0].into_iter()), (1.0, 13.0));
        assert_eq!(span([0.5, 10.5].into_iter()), (0.0, 11.5), "never below zero");
        assert_eq!(span([5.0].into_iter()), (4.5, 5.5), "one point: around it");
        assert_eq!(span(std::iter::empty()), (0.0, 1.0));
    }
}
