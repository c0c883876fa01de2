//! The sweep chart: server CPU, bytes per second and p99 staleness against the
//! number of clients, a line per lane.
//!
//! SVG only: plotters writes SVG text as `<text>` elements, so no font is
//! needed; PNG text would need a TTF shipped in the repository.

use std::path::Path;

use anyhow::{Context, bail};
use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::lane::LaneKind;
use crate::load::Settings;
use crate::load::report::{ProtocolReport, RunReport};

/// Each lane's line colour.
pub(super) fn color(kind: LaneKind) -> RGBColor {
    match kind {
        LaneKind::Poll | LaneKind::UrlPoll => RGBColor(214, 39, 40),
        LaneKind::LongPoll => RGBColor(255, 127, 14),
        LaneKind::Sse => RGBColor(44, 160, 44),
        LaneKind::Ws | LaneKind::Feed(_) => RGBColor(31, 119, 180),
        LaneKind::SocketIo => RGBColor(148, 103, 189),
    }
}

/// Refuses, before any run, a chart path that could not be written.
pub fn check_path(path: &Path) -> anyhow::Result<()> {
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if !svg {
        bail!(
            "--chart {}: only SVG charts are supported (PNG text would need a font shipped \
             with pollpush); use a .svg file name",
            path.display()
        );
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir
        && !dir.is_dir()
    {
        bail!(
            "--chart {}: no such directory {}",
            path.display(),
            dir.display()
        );
    }
    Ok(())
}

/// One panel: a value read from a protocol's report (and its run).
struct Metric {
    title: &'static str,
    unit: &'static str,
    value: fn(&RunReport, &ProtocolReport) -> f64,
}

const CPU: Metric = Metric {
    title: "server CPU",
    unit: "% of one core",
    value: |run, _| run.server.cpu_percent,
};
const BYTES: Metric = Metric {
    title: "traffic on the wire",
    unit: "bytes per second",
    value: |_, p| p.wire.bytes_per_s,
};
const STALENESS: Metric = Metric {
    title: "p99 staleness",
    unit: "milliseconds",
    value: |_, p| p.staleness_ms.p99,
};

/// `(clients, value)` for each lane, in client order.
type Lines = Vec<(LaneKind, Vec<(f64, f64)>)>;

fn lines(runs: &[RunReport], metric: &Metric) -> Lines {
    let mut lines: Lines = Vec::new();
    for run in runs {
        for (kind, p) in &run.lanes.0 {
            let point = (p.clients as f64, (metric.value)(run, p));
            match lines.iter_mut().find(|(k, _)| k == kind) {
                Some((_, points)) => points.push(point),
                None => lines.push((*kind, vec![point])),
            }
        }
    }
    lines.sort_by_key(|(kind, _)| *kind);
    for (_, points) in &mut lines {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    lines
}

/// Every value of every line.
fn values(data: &Lines) -> impl Iterator<Item = f64> + '_ {
    data.iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
}

/// Draws the sweep's three panels side by side into an SVG file.
pub fn draw(path: &Path, runs: &[RunReport], settings: &Settings<'_>) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1500, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let title = format!(
        "pollpush load: each lane alone, poll every {}, {} changes/s, {} per point",
        humantime::format_duration(settings.connect.interval),
        settings.connect.simulate,
        humantime::format_duration(settings.load.duration),
    );
    let root = root
        .titled(&title, ("sans-serif", 22))
        .map_err(plot_error)?;
    let panels = root.split_evenly((1, 3));
    let (min_x, max_x) = x_range(runs);
    let x = || -> LogCoord<f64> { (min_x..max_x).log_scale().into() };
    for (panel, metric) in panels.iter().zip([&CPU, &BYTES, &STALENESS]) {
        let data = lines(runs, metric);
        let top = values(&data).fold(0.0, f64::max);
        if std::ptr::eq(metric, &BYTES) {
            let low = values(&data).fold(top, f64::min);
            let y: LogCoord<f64> = ((low / 2.0).max(1.0)..(top * 2.0).max(10.0))
                .log_scale()
                .into();
            panel_on(panel, metric, x(), y, &data)?;
        } else {
            let y: RangedCoordf64 = (0.0..(top * 1.15).max(1.0)).into();
            panel_on(panel, metric, x(), y, &data)?;
        }
    }
    root.present()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn x_range(runs: &[RunReport]) -> (f64, f64) {
    let counts = runs
        .iter()
        .flat_map(|r| r.lanes.values().map(|p| p.clients as f64));
    let (lo, hi) = counts.fold((f64::MAX, 1.0_f64), |(lo, hi), c| (lo.min(c), hi.max(c)));
    let lo = lo.min(hi).max(1.0);
    (lo / 1.5, hi * 1.5)
}

fn panel_on<X, Y>(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    metric: &Metric,
    x: X,
    y: Y,
    data: &Lines,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(metric.title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("clients (log scale)")
        .y_desc(metric.unit)
        .x_label_formatter(&|v| human(*v))
        .y_label_formatter(&|v| human(*v))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_error)?;
    for (kind, points) in data {
        let (color, name) = (color(*kind), kind.title());
        chart
            .draw_series(
                LineSeries::new(points.iter().copied(), color.stroke_width(3)).point_size(4),
            )
            .map_err(plot_error)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK.mix(0.4))
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// 1500 → "1.5k", 2000000 → "2M", 0.5 → "0.5".
pub(super) fn human(v: f64) -> String {
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let text = format!("{scaled:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{suffix}")
}

pub(super) fn plot_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the chart: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels_are_short() {
        assert_eq!(human(1500.0), "1.5k");
        assert_eq!(human(2_000_000.0), "2M");
        assert_eq!(human(0.5), "0.5");
        assert_eq!(human(10.0), "10");
    }

    #[test]
    fn only_svg_paths_are_accepted() {
        assert!(check_path(Path::new("sweep.svg")).is_ok());
        let error = check_path(Path::new("sweep.png")).unwrap_err().to_string();
        assert!(error.contains("only SVG"), "{error}");
        assert!(check_path(Path::new("/no/such/dir/sweep.svg")).is_err());
    }
}
