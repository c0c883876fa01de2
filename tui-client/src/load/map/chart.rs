//! The map as an SVG heat map, a panel per condition (TLS, HTTP version…),
//! each with change rates down and polling intervals across;
//! each cell tinted with the colour of its cheapest lane for the freshness it
//! gets, and listing every lane's server CPU, bytes per second and p99
//! staleness, the marked one first in bold.

use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{Cell, Map, Panel};
use crate::load::chart::{color, human, plot_error};

const WIDTH: u32 = 1500;
const ROW_HEIGHT: u32 = 150;
const HEADER: u32 = 50;
/// A panel's title and its column labels.
const PANEL_HEAD: u32 = 80;
const FOOTER: u32 = 70;
const LEFT: u32 = 150;

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Draws `map` into the SVG file at `path`: its panels one under the other.
pub fn draw(path: &Path, map: &Map) -> anyhow::Result<()> {
    let panel_height = PANEL_HEAD + ROW_HEIGHT * map.changes_per_s.len() as u32;
    let height = HEADER + panel_height * map.panels.len() as u32 + FOOTER;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let title = format!(
        "pollpush load --map: {} clients per lane, each lane alone, {} s per run ({})",
        map.clients, map.cell_seconds, map.measured
    );
    root.draw(&Text::new(title, (20, 16), ("sans-serif", 22)))
        .map_err(plot_error)?;
    for (i, panel) in map.panels.iter().enumerate() {
        let top = (HEADER + panel_height * i as u32) as i32;
        draw_panel(&root, map, panel, top)?;
    }
    let legend = [
        "Marked (bold, tinted): the lane using the least server CPU among those whose p99 staleness \
         is within 1.5× + 100 ms of the freshest lane's;",
        "fewer bytes on the wire break a tie (CPU within 0.5 points). Only polling depends on the \
         interval: the other lanes are measured once per change rate.",
    ];
    for (i, line) in legend.into_iter().enumerate() {
        let y = (height - FOOTER + 14 + 22 * i as u32) as i32;
        root.draw(&Text::new(line, (20, y), ("sans-serif", 15)))
            .map_err(plot_error)?;
    }
    root.present()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// One condition's grid, its title at `top`.
fn draw_panel(root: &Area<'_>, map: &Map, panel: &Panel, top: i32) -> anyhow::Result<()> {
    let (rates, intervals) = (&map.changes_per_s, &map.intervals_ms);
    let heading = ("sans-serif", 20).into_font().style(FontStyle::Bold);
    root.draw(&Text::new(panel.condition.title(), (20, top + 8), heading))
        .map_err(plot_error)?;
    let column_width = (WIDTH - LEFT - 20) / intervals.len().max(1) as u32;
    let label = ("sans-serif", 17).into_font();
    for (c, interval) in intervals.iter().enumerate() {
        let x = (LEFT + column_width * c as u32 + 10) as i32;
        let text = format!("poll every {}", duration_label(*interval));
        root.draw(&Text::new(
            text,
            (x, top + PANEL_HEAD as i32 - 30),
            label.clone(),
        ))
        .map_err(plot_error)?;
    }
    let rows = panel.cells.chunks(intervals.len().max(1));
    for (r, (rate, row)) in rates.iter().zip(rows).enumerate() {
        let y = top + (PANEL_HEAD + ROW_HEIGHT * r as u32) as i32;
        let text = format!("{} changes/s", human(*rate));
        root.draw(&Text::new(text, (14, y + 10), label.clone()))
            .map_err(plot_error)?;
        for (c, cell) in row.iter().enumerate() {
            let x = (LEFT + column_width * c as u32) as i32;
            let corner = (x + column_width as i32 - 8, y + ROW_HEIGHT as i32 - 8);
            draw_cell(root, cell, (x, y), corner)?;
        }
    }
    Ok(())
}

fn draw_cell(
    root: &Area<'_>,
    cell: &Cell,
    top_left: (i32, i32),
    bottom_right: (i32, i32),
) -> anyhow::Result<()> {
    let marked = cell.lanes.iter().find(|l| Some(l.lane) == cell.cheapest);
    let tint = marked.map_or(WHITE.mix(1.0), |l| color(l.kind).mix(0.15));
    root.draw(&Rectangle::new([top_left, bottom_right], tint.filled()))
        .map_err(plot_error)?;
    root.draw(&Rectangle::new([top_left, bottom_right], BLACK.mix(0.3)))
        .map_err(plot_error)?;
    // The marked lane first, the others in the order the map ran them.
    let ordered = marked
        .into_iter()
        .chain(cell.lanes.iter().filter(|l| Some(l.lane) != cell.cheapest));
    for (i, lane) in ordered.enumerate() {
        let bold = Some(lane.lane) == cell.cheapest;
        let font = ("sans-serif", 15).into_font();
        let font = if bold {
            font.style(FontStyle::Bold)
        } else {
            font
        };
        let style = font.color(&color(lane.kind));
        let y = top_left.1 + 12 + 30 * i as i32;
        // SVG collapses runs of spaces: each column is placed, not padded.
        let columns = [
            (10, lane.kind.short().to_owned()),
            (95, format!("CPU {:.1}%", lane.cpu_percent)),
            (195, format!("{}B/s", human(lane.bytes_per_s))),
            (
                285,
                format!("p99 stale {} ms", human(lane.staleness_p99_ms)),
            ),
        ];
        for (dx, text) in columns {
            root.draw(&Text::new(text, (top_left.0 + dx, y), style.clone()))
                .map_err(plot_error)?;
        }
    }
    Ok(())
}

/// 250 → "250 ms", 1000 → "1 s".
fn duration_label(ms: u64) -> String {
    if ms >= 1000 {
        format!("{} s", human(ms as f64 / 1000.0))
    } else {
        format!("{ms} ms")
    }
}
