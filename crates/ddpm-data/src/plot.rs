//! PNG figures: real vs generated histograms, loss curves, and metric-against-cost lines.
//!
//! Charts are drawn in memory with plotters (text in the bundled DejaVu Sans, so no system fonts are
//! needed), encoded with `png`, and written atomically.

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::{DataError, Normal1d};

pub use plotters::style::RGBColor;

/// matplotlib's first two colours, which readers of the tutorials know.
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);

const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;
const FONT: &str = "sans-serif";

/// One filled histogram to draw.
pub struct Histogram<'a> {
    pub label: &'a str,
    pub values: &'a [f32],
    pub color: RGBColor,
}

/// Overlaid density histograms (e.g. training data and generated samples), plus the target density
/// as a curve when known: the figure DDPM tutorials show for 1-D experiments.
pub fn histograms(path: &Path, title: &str, series: &[Histogram], target: Option<(&str, Normal1d)>, bins: usize) -> Result<(), DataError> {
    let all = series.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = all.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return Err(DataError::Plot { path: path.into(), reason: "no finite values to draw".into() });
    }
    let (lo, hi) = (lo as f64, (hi as f64).max(lo as f64 + 1e-6));
    let width = (hi - lo) / bins as f64;
    let densities: Vec<Vec<f64>> = series.iter().map(|s| density(s.values, lo, width, bins)).collect();
    let curve: Vec<(f64, f64)> =
        target.map(|(_, n)| (0..=400).map(|i| lo + (hi - lo) * i as f64 / 400.0).map(|x| (x, n.pdf(x))).collect()).unwrap_or_default();
    let y_max = densities.iter().flatten().chain(curve.iter().map(|(_, y)| y)).fold(0.0f64, |m, &y| m.max(y)) * 1.1;

    let frame = Frame { title, x: lo..hi, y: 0.0..y_max.max(1e-9), x_desc: "x", y_desc: "density", log_x: false };
    render(path, frame, |chart| {
        for (s, dens) in series.iter().zip(&densities) {
            let style = s.color.mix(0.45).filled();
            chart
                .draw_series(dens.iter().enumerate().map(|(i, &d)| {
                    let left = lo + width * i as f64;
                    Rectangle::new([(left, 0.0), (left + width, d)], style)
                }))?
                .label(format!("{} (n = {})", s.label, s.values.len()))
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], style));
        }
        if let Some((label, _)) = target {
            chart
                .draw_series(LineSeries::new(curve.iter().copied(), BLACK.stroke_width(2)))?
                .label(label)
                .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], BLACK.stroke_width(2)));
        }
        Ok(())
    })
}

/// A training-loss curve: every step faintly, and a moving average over `smooth` steps on top.
pub fn loss_curve(path: &Path, title: &str, losses: &[f32], smooth: usize) -> Result<(), DataError> {
    let points: Vec<(f64, f64)> = losses.iter().enumerate().filter(|(_, l)| l.is_finite()).map(|(i, &l)| (i as f64, l as f64)).collect();
    if points.is_empty() {
        return Err(DataError::Plot { path: path.into(), reason: "no finite losses to draw".into() });
    }
    let smooth = smooth.max(1);
    let averaged: Vec<(f64, f64)> =
        points.windows(smooth.min(points.len())).map(|w| (w[w.len() - 1].0, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64)).collect();
    let y_max = points.iter().map(|p| p.1).fold(0.0f64, f64::max) * 1.05;
    let x_max = (points.len() as f64).max(1.0);

    let frame = Frame { title, x: 0.0..x_max, y: 0.0..y_max.max(1e-9), x_desc: "step", y_desc: "MSE to the true noise", log_x: false };
    render(path, frame, |chart| {
        let faint = BLUE.mix(0.3);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), faint))?
            .label("loss per step")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], faint));
        chart
            .draw_series(LineSeries::new(averaged, ORANGE.stroke_width(2)))?
            .label(format!("mean of {smooth} steps"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], ORANGE.stroke_width(2)));
        Ok(())
    })
}

/// One line of points to draw.
pub struct Line<'a> {
    pub label: &'a str,
    pub points: &'a [(f64, f64)],
    pub color: RGBColor,
}

/// A distinct colour for line `i`: matplotlib's default cycle.
pub fn cycle_color(i: usize) -> RGBColor {
    const CYCLE: [RGBColor; 6] =
        [BLUE, ORANGE, RGBColor(44, 160, 44), RGBColor(214, 39, 40), RGBColor(148, 103, 189), RGBColor(140, 86, 75)];
    CYCLE[i % CYCLE.len()]
}

/// Lines over a logarithmic x axis (x > 0), e.g. FID against model evaluations, with an optional dashed
/// horizontal reference (a floor) labelled by its first element.
pub fn lines_log_x(path: &Path, title: &str, axes: [&str; 2], lines: &[Line], reference: Option<(&str, f64)>) -> Result<(), DataError> {
    let points = || lines.iter().flat_map(|l| l.points.iter().copied()).filter(|(x, y)| *x > 0.0 && y.is_finite());
    let (x_lo, x_hi) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| (lo.min(x.log10()), hi.max(x.log10())));
    if !x_lo.is_finite() {
        return Err(DataError::Plot { path: path.into(), reason: "no points with x > 0 and a finite y to draw".into() });
    }
    let y_hi = points().map(|p| p.1).chain(reference.map(|r| r.1)).fold(0.0f64, f64::max) * 1.08;
    let pad = 0.05 * (x_hi - x_lo).max(0.5);
    let frame = Frame { title, x: x_lo - pad..x_hi + pad, y: 0.0..y_hi.max(1e-9), x_desc: axes[0], y_desc: axes[1], log_x: true };
    render(path, frame, |chart| {
        for line in lines {
            let (color, logged) = (line.color, line.points.iter().map(|&(x, y)| (x.log10(), y)).collect::<Vec<_>>());
            chart
                .draw_series(LineSeries::new(logged.clone(), color.stroke_width(2)))?
                .label(line.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2)));
            chart.draw_series(logged.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
        }
        if let Some((label, y)) = reference {
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series(DashedLineSeries::new([(x_lo - pad, y), (x_hi + pad, y)], 8, 6, grey.stroke_width(1)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], grey));
        }
        Ok(())
    })
}

/// Density-normalised bin heights over `bins` bins of `width` starting at `lo`.
fn density(values: &[f32], lo: f64, width: f64, bins: usize) -> Vec<f64> {
    let mut counts = vec![0usize; bins];
    let mut total = 0usize;
    for &v in values.iter().filter(|v| v.is_finite()) {
        let bin = (((v as f64 - lo) / width) as usize).min(bins - 1);
        counts[bin] += 1;
        total += 1;
    }
    counts.iter().map(|&c| c as f64 / (total.max(1) as f64 * width)).collect()
}

/// The axes of a chart: title, ranges and axis labels.
struct Frame<'a> {
    title: &'a str,
    x: Range<f64>,
    y: Range<f64>,
    x_desc: &'a str,
    y_desc: &'a str,
    /// The x values are log10 of what the labels show.
    log_x: bool,
}

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult = Result<(), Box<dyn std::error::Error + 'static>>;

/// Draws `frame` on a white canvas, lets `draw` add the series, adds the legend, and writes the PNG.
fn render(path: &Path, frame: Frame, draw: impl FnOnce(&mut Chart) -> DrawResult) -> Result<(), DataError> {
    static FONT_ONCE: Once = Once::new();
    FONT_ONCE.call_once(|| {
        register_font(FONT, FontStyle::Normal, include_bytes!("../assets/DejaVuSans.ttf"))
            .unwrap_or_else(|_| panic!("the bundled DejaVu Sans font is valid"));
    });
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let log_x = frame.log_x;
    let drawn = (|| -> DrawResult {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(frame.title, (FONT, 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(frame.x, frame.y)?;
        chart
            .configure_mesh()
            .x_desc(frame.x_desc)
            .y_desc(frame.y_desc)
            .x_label_formatter(&|x| {
                if log_x { two_significant_digits(10f64.powf(*x)) } else { format!("{x}") }
            })
            .label_style((FONT, 15))
            .draw()?;
        draw(&mut chart)?;
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        root.present()?;
        Ok(())
    })();
    drawn.map_err(|e| DataError::Plot { path: path.into(), reason: e.to_string() })?;
    Ok(ddpm_io::write_png(path, &pixels, WIDTH, HEIGHT)?)
}

/// A log axis's tick label: 5.012 -> "5", 6.31 -> "6.3", 19.95 -> "20".
fn two_significant_digits(value: f64) -> String {
    let text = if value >= 10.0 { format!("{value:.0}") } else { format!("{value:.1}") };
    text.strip_suffix(".0").map_or(text.clone(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_and_loss_plots_are_valid_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let target = Normal1d::new(3.0, 2.0).unwrap();
        let data = crate::GaussianDataset::new(target, 500, 0).unwrap().samples;
        let path = dir.path().join("h.png");
        let series = [Histogram { label: "real", values: &data, color: BLUE }];
        histograms(&path, "test", &series, Some(("N(3, 4)", target)), 40).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));

        let losses: Vec<f32> = (0..100).map(|i| 1.0 / (1.0 + i as f32)).collect();
        loss_curve(&dir.path().join("l.png"), "loss", &losses, 10).unwrap();
        assert!(dir.path().join("l.png").metadata().unwrap().len() > 1000);

        let points = [(5.0, 80.0), (10.0, 40.0), (1000.0, 20.0)];
        let lines = [Line { label: "DDIM", points: &points, color: cycle_color(0) }];
        lines_log_x(&dir.path().join("s.png"), "sweep", ["NFE", "FID"], &lines, Some(("floor", 9.0))).unwrap();
        assert!(dir.path().join("s.png").metadata().unwrap().len() > 1000);
        let labels: Vec<String> = [5.012, 6.31, 19.953, 1000.0].into_iter().map(two_significant_digits).collect();
        assert_eq!(labels, ["5", "6.3", "20", "1000"]);
    }

    #[test]
    fn nothing_finite_to_draw_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = loss_curve(&dir.path().join("l.png"), "loss", &[f32::NAN], 10).unwrap_err();
        assert!(err.to_string().contains("no finite losses"), "{err}");
    }
}
