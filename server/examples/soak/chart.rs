//! The soak's curve: RSS and heap over time above, the fast subscribers' p99 below.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;

use crate::Sample;

pub fn draw(path: &Path, label: &str, samples: &[Sample]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE).context("chart")?;
    let (top, bottom) = root.split_vertically(330);
    let minutes = |s: &Sample| s.t_s / 60.0;
    let end = samples.last().map_or(1.0, minutes).max(1.0);
    let mem_max = samples
        .iter()
        .map(|s| s.rss_mb.max(s.heap_mb))
        .fold(1.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("{label}: server memory under reconnect churn"),
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..end, 0.0..mem_max)
        .context("chart")?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("MB")
        .draw()
        .context("chart")?;
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (minutes(s), s.rss_mb)),
            &RED,
        ))
        .context("chart")?
        .label("RSS")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], RED));
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (minutes(s), s.heap_mb)),
            &BLUE,
        ))
        .context("chart")?
        .label("heap allocated (allocator's view)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLUE));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .context("chart")?;
    let p99_max = samples.iter().map(|s| s.p99_ms).fold(1.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "commit to fast subscriber, p99 per sample",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..end, 0.0..p99_max)
        .context("chart")?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("ms")
        .draw()
        .context("chart")?;
    chart
        .draw_series(LineSeries::new(
            samples.iter().map(|s| (minutes(s), s.p99_ms)),
            &BLACK,
        ))
        .context("chart")?;
    root.present().context("writing the chart")?;
    Ok(())
}
