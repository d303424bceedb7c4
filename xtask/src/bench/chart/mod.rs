//! The benchmark's chart (docs/benchmark.md): one small panel per figure, Rust and Python side
//! by side, each panel on its own scale (the figures have different units); and the curves'
//! chart, a line per language across the steps of load; [`scatter`]: the sweep's chart, cost
//! against latency at each memory size. Plain SVG, written by hand: a dependency
//! for a dozen rectangles would cost more build time than it saves.
//!
//! SVG does not wrap or measure text, so the layout is derived from what is written: every
//! column is as wide as the widest panel's title, subtitle or bars and figures, and the chart
//! as wide as its columns or its own title, whichever is wider (see [`text_width`]).

mod scatter;

pub use scatter::{Scatter, scatter_svg};
use std::fmt::Write as _;

pub struct Panel {
    pub title: String,
    pub unit: &'static str,
    pub rust: f64,
    pub python: f64,
    /// "lower is better" for times and memory, not for throughput.
    pub lower_is_better: bool,
}

impl Panel {
    fn subtitle(&self) -> String {
        subtitle(self.unit, self.lower_is_better)
    }

    fn bars(&self) -> [(&'static str, f64, &'static str); 2] {
        [("Rust", self.rust, RUST), ("Python", self.python, PYTHON)]
    }
}

const RUST: &str = "#b7410e";
const PYTHON: &str = "#3572a5";
const COLUMNS: usize = 3;
const FONT: f64 = 12.0;
const TITLE_FONT: f64 = 15.0;
const MARGIN: f64 = 10.0;
/// Between two panels of a row.
const GUTTER: f64 = 20.0;
const PANEL_H: f64 = 120.0;
const HEADER_H: f64 = 55.0;
const BAR_MAX: f64 = 150.0;
/// Between a bar's label and the bar, and between the bar and its figure.
const LABEL_GAP: f64 = 16.0;
const FIGURE_GAP: f64 = 4.0;
const SWATCH: f64 = 10.0;

/// Where the panels go, derived from their text.
struct Grid {
    panel_w: f64,
    /// Where the bars start, from a panel's left edge.
    bar_x: f64,
    width: f64,
    height: f64,
}

impl Grid {
    fn of(title: &str, legend_w: f64, panels: &[Panel]) -> Self {
        let bar_x = widest(["Rust", "Python"].iter().map(|l| text_width(l, FONT))) + LABEL_GAP;
        let content_w = widest(panels.iter().flat_map(|p| {
            let figures = widest(p.bars().iter().map(|(_, value, _)| text_width(&figure(*value), FONT)));
            [
                text_width(&p.title, FONT),
                text_width(&p.subtitle(), FONT),
                bar_x + BAR_MAX + FIGURE_GAP + figures,
            ]
        }));
        let panel_w = (content_w + GUTTER).ceil();
        let columns = panels.len().clamp(1, COLUMNS) as f64;
        let inner = widest([columns * panel_w - GUTTER, text_width(title, TITLE_FONT), legend_w]);
        Self {
            panel_w,
            bar_x,
            width: (inner + 2.0 * MARGIN).ceil(),
            height: PANEL_H * panels.len().div_ceil(COLUMNS) as f64 + HEADER_H + 5.0,
        }
    }
}

fn widest(widths: impl IntoIterator<Item = f64>) -> f64 {
    widths.into_iter().fold(0.0, f64::max)
}

pub fn svg(title: &str, panels: &[Panel]) -> String {
    let (legend, legend_w) = legend();
    let grid = Grid::of(title, legend_w, panels);
    let (width, height) = (grid.width, grid.height);
    let mut out = open(title, &legend, width, height);
    for (i, panel) in panels.iter().enumerate() {
        let x = MARGIN + (i % COLUMNS) as f64 * grid.panel_w;
        let y = HEADER_H + (i / COLUMNS) as f64 * PANEL_H;
        write_panel(&mut out, &grid, panel, x, y);
    }
    out.push_str("</svg>\n");
    out
}

/// Both charts' start: the SVG element `width` x `height`, a white background, the title and
/// the key under it (from [`legend`]).
fn open(title: &str, legend: &str, width: f64, height: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="{FONT}">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN}" y="22" font-size="{TITLE_FONT}" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(out, "{legend}");
    out
}

/// The key under the title, and how wide it is.
fn legend() -> (String, f64) {
    let mut out = String::new();
    let mut x = MARGIN;
    for (label, colour) in [("Rust", RUST), ("Python peer (comparison)", PYTHON)] {
        let text_x = x + SWATCH + 4.0;
        let _ = write!(
            out,
            r#"<rect x="{x}" y="32" width="{SWATCH}" height="{SWATCH}" fill="{colour}"/><text x="{text_x}" y="41">{label}</text>"#
        );
        x = (text_x + text_width(label, FONT) + LABEL_GAP).ceil();
    }
    (out, x - LABEL_GAP - MARGIN)
}

fn write_panel(out: &mut String, grid: &Grid, panel: &Panel, x: f64, y: f64) {
    let _ = writeln!(
        out,
        r##"<text x="{x}" y="{}" font-weight="bold">{}</text><text x="{x}" y="{}" fill="#666">{}</text>"##,
        y + 14.0,
        escape(&panel.title),
        y + 29.0,
        escape(&panel.subtitle())
    );
    let max = panel.rust.max(panel.python).max(f64::MIN_POSITIVE);
    for (row, (name, value, colour)) in panel.bars().into_iter().enumerate() {
        let bar_y = y + 40.0 + row as f64 * 28.0;
        let width = (value / max * BAR_MAX).max(1.0);
        let _ = writeln!(
            out,
            r#"<text x="{x}" y="{}">{name}</text><rect x="{}" y="{bar_y}" width="{width:.1}" height="20" fill="{colour}"/><text x="{:.1}" y="{}">{}</text>"#,
            bar_y + 14.0,
            x + grid.bar_x,
            x + grid.bar_x + width + FIGURE_GAP,
            bar_y + 14.0,
            figure(value)
        );
    }
}

/// One panel of the curves chart: a figure at each step of load, a line per language.
pub struct Curve {
    pub title: String,
    /// What the steps count (pollers, sign-ups at once).
    pub steps: &'static str,
    pub unit: &'static str,
    pub lower_is_better: bool,
    pub points: Vec<(usize, f64, Option<f64>)>,
}

const CURVE_W: f64 = 260.0;
const CURVE_H: f64 = 110.0;
/// Left of the plot: the y axis's figures; below it: the steps.
const AXIS_W: f64 = 50.0;
const CURVE_PANEL_H: f64 = CURVE_H + 75.0;

/// `bench/curves.svg`: a panel per curve, the steps evenly spaced (they grow by factors, so
/// a linear x axis would crowd the first ones), y from zero to the highest figure.
pub fn curves_svg(title: &str, curves: &[Curve]) -> String {
    let widths = |c: &Curve| {
        [
            text_width(&c.title, FONT),
            text_width(&subtitle(c.unit, c.lower_is_better), FONT),
            AXIS_W + CURVE_W,
        ]
    };
    panels_svg(title, curves, widths, CURVE_PANEL_H, write_curve)
}

/// A chart of `panels`, [`COLUMNS`] to a row under the title and the key: each column as wide
/// as the widest of the panels' `widths` (their texts and their plot) and a gutter, each row
/// `panel_h` high; `draw` writes one panel at its top-left corner. The curves' and the sweep's.
fn panels_svg<P>(
    title: &str,
    panels: &[P],
    widths: impl Fn(&P) -> [f64; 3],
    panel_h: f64,
    draw: impl Fn(&mut String, &P, f64, f64),
) -> String {
    let (legend, legend_w) = legend();
    let panel_w = widest(panels.iter().flat_map(widths)) + GUTTER;
    let columns = panels.len().clamp(1, COLUMNS) as f64;
    let inner = widest([columns * panel_w - GUTTER, text_width(title, TITLE_FONT), legend_w]);
    let width = (inner + 2.0 * MARGIN).ceil();
    let height = panel_h * panels.len().div_ceil(COLUMNS) as f64 + HEADER_H + 5.0;
    let mut out = open(title, &legend, width, height);
    for (i, panel) in panels.iter().enumerate() {
        let x = MARGIN + (i % COLUMNS) as f64 * panel_w;
        let y = HEADER_H + (i / COLUMNS) as f64 * panel_h;
        draw(&mut out, panel, x, y);
    }
    out.push_str("</svg>\n");
    out
}

/// Under a panel's title: the unit, and which way is better.
fn subtitle(unit: &str, lower_is_better: bool) -> String {
    let better = if lower_is_better { "lower" } else { "higher" };
    format!("{unit} ({better} is better)")
}

fn write_curve(out: &mut String, curve: &Curve, x: f64, y: f64) {
    let _ = writeln!(
        out,
        r##"<text x="{x}" y="{}" font-weight="bold">{}</text><text x="{x}" y="{}" fill="#666">{}</text>"##,
        y + 14.0,
        escape(&curve.title),
        y + 29.0,
        escape(&subtitle(curve.unit, curve.lower_is_better))
    );
    let (left, top) = (x + AXIS_W, y + 40.0);
    let bottom = top + CURVE_H;
    let max = curve
        .points
        .iter()
        .flat_map(|(_, rust, python)| [Some(*rust), *python])
        .flatten()
        .fold(f64::MIN_POSITIVE, f64::max);
    let step = CURVE_W / curve.points.len().max(1) as f64;
    let px = |i: usize| left + step * (i as f64 + 0.5);
    let py = |v: f64| bottom - v / max * CURVE_H;
    let _ = writeln!(
        out,
        r##"<path d="M{left} {top}V{bottom}H{}" stroke="#999" fill="none"/><text x="{}" y="{}" text-anchor="end" fill="#666">{}</text><text x="{}" y="{bottom}" text-anchor="end" fill="#666">0</text>"##,
        left + CURVE_W,
        left - 4.0,
        top + 10.0,
        figure(max),
        left - 4.0,
    );
    for (i, (steps, _, _)) in curve.points.iter().enumerate() {
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#666">{steps}</text>"##,
            px(i),
            bottom + 15.0
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#666">{}</text>"##,
        left + CURVE_W / 2.0,
        bottom + 30.0,
        escape(curve.steps)
    );
    let rust: Vec<(usize, f64)> = curve.points.iter().enumerate().map(|(i, p)| (i, p.1)).collect();
    let python: Vec<(usize, f64)> = curve
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, p.2?)))
        .collect();
    for (line, colour) in [(rust, RUST), (python, PYTHON)] {
        let path: Vec<String> = line
            .iter()
            .map(|&(i, v)| format!("{:.1},{:.1}", px(i), py(v)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" stroke="{colour}" stroke-width="2" fill="none"/>"#,
            path.join(" ")
        );
        for (i, v) in line {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}</title></circle>"#,
                px(i),
                py(v),
                figure(v)
            );
        }
    }
}

/// An upper bound of `text`'s width at `size` px, bold or not, in the fonts the chart names
/// and the ones a viewer falls back to: Helvetica and Arial (the same metrics), and DejaVu Sans,
/// the usual `sans-serif` on Linux and the widest of them (a title that fits in Helvetica runs
/// a sixth longer in it). Each character counts as the widest DejaVu Sans Bold glyph of its
/// class.
fn text_width(text: &str, size: f64) -> f64 {
    let em: f64 = text
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | 'I' | 'J' | ' ' | '.' | ',' | ':' | ';' | '\'' | '|' | '/' => 0.40,
            'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' | '_' | '!' | '`' => 0.50,
            'm' | 'w' | 'M' | 'W' | '%' | '@' => 1.11,
            'a'..='z' | '0'..='9' => 0.72,
            'A'..='Z' => 0.86,
            _ => 1.11,
        })
        .sum();
    em * size
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

    fn panel(title: &str, rust: f64, python: f64) -> Panel {
        Panel {
            title: title.into(),
            unit: "ms",
            rust,
            python,
            lower_is_better: true,
        }
    }

    #[test]
    fn one_panel_per_figure_with_both_bars() {
        let mut throughput = panel("throughput", 120.0, 40.0);
        (throughput.unit, throughput.lower_is_better) = ("emails/s", false);
        let panels = vec![panel("init <create-user>", 5.0, 500.0), throughput];
        let svg = svg("t", &panels);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("init &lt;create-user&gt;") && svg.contains(">500<") && svg.contains(">5.00<"));
        assert!(svg.contains("emails/s (higher is better)"));
        assert_eq!(svg.matches("<rect").count(), 1 + 2 + 2 * panels.len());
    }

    #[test]
    fn a_curve_panel_has_a_line_and_a_point_per_step_for_each_language() {
        let curve = Curve {
            title: "create-user (BCRYPT_COST=12), p50".into(),
            steps: "sign-ups at once",
            unit: "ms",
            lower_is_better: true,
            points: vec![(1, 270.0, Some(280.0)), (5, 700.0, Some(760.0)), (20, 2700.0, None)],
        };
        let svg = curves_svg("t", &[curve]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(
            svg.matches("<circle").count(),
            3 + 2,
            "Python has no point where it did not run"
        );
        assert!(svg.contains(">sign-ups at once<") && svg.contains(">2700<") && svg.contains(">20<"));
        let (width, texts) = texts(&svg);
        for (x, _, size, text) in texts {
            assert!(x + text_width(&text, size) <= width, "{text:?} runs past the chart");
        }
    }

    /// The chart's width and every text's `x`, `y` and font size, as written.
    pub(super) fn texts(svg: &str) -> (f64, Vec<(f64, f64, f64, String)>) {
        let attr = |tag: &str, name: &str| -> Option<f64> {
            let rest = tag.split_once(&format!(" {name}=\""))?.1;
            rest.split_once('"')?.0.parse().ok()
        };
        let width = attr(svg.lines().next().unwrap(), "width").unwrap();
        let texts = svg
            .split("<text")
            .skip(1)
            .map(|t| {
                let (tag, rest) = t.split_once('>').unwrap();
                let text = rest.split_once("</text>").unwrap().0;
                let size = attr(tag, "font-size").unwrap_or(FONT);
                let text = text.replace("&lt;", "<").replace("&gt;", ">");
                (attr(tag, "x").unwrap(), attr(tag, "y").unwrap(), size, text)
            })
            .collect();
        (width, texts)
    }

    /// The report's longest titles, in the last column, with the widest figures; a chart title
    /// wider than its panels: nothing runs past the chart's right edge, nor into the next column.
    #[test]
    fn every_text_fits_its_panel_and_the_chart() {
        let titles = [
            "create-user init",
            "send-email exec to first answer",
            "create-user (BCRYPT_COST=12), own overhead",
            "create-user (BCRYPT_COST=4), warm p50",
            "send-email (batches of 10), warm p50",
            "create-user (BCRYPT_COST=4), own overhead",
        ];
        let panels: Vec<Panel> = titles.iter().map(|t| panel(t, 12345.0, 0.001)).collect();
        let long_title = "a chart title far longer than one small panel of two bars could ever be, and then some";
        for (title, panels) in [
            ("Rust vs Python (cargo xtask bench)", &panels[..]),
            (long_title, &panels[..1]),
        ] {
            let (width, texts) = texts(&svg(title, panels));
            let grid = Grid::of("", 0.0, panels);
            for (x, y, size, text) in texts {
                let right = x + text_width(&text, size);
                assert!(
                    right <= width - MARGIN,
                    "{text:?} ends at {right}, the chart at {width}"
                );
                if y < HEADER_H {
                    continue; // the chart's title and legend span the columns
                }
                let column_end = MARGIN + ((x - MARGIN) / grid.panel_w).floor() * grid.panel_w + grid.panel_w;
                assert!(right <= column_end - GUTTER, "{text:?} runs into the next column");
            }
        }
    }
}
