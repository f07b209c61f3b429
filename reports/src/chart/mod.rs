//! Charts as data, then as PNG. A report builds `LineChart` and `BarChart` values (what to
//! show: series, units, titles); `line` and `bar` draw them. This module owns what every chart
//! shares: the page size, the title, the legend column beside the plot (so it never covers
//! data), the grid and axes, and the pixel mapping. plotters draws the shapes into an RGB
//! buffer; `text` draws the labels on top; `encode` makes the PNG.

pub mod axis;
mod bar;
mod line;

pub use axis::{Fit, Scale};
pub use bar::{Bar, BarChart, BarGroup};
pub use line::{LineChart, Panel, RefLine, Series};

use crate::palette;
use crate::text::{fonts, Fonts, HAlign, Label, VAlign};
use crate::{encode, ReportError};
use axis::Axis;
use plotters::coord::Shift;
use plotters::prelude::*;

pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 560;
/// The legend column on the right.
const LEGEND_W: i32 = 230;
const TITLE_H: i32 = 50;
const LEGEND_ROW: i32 = 22;
/// Room left of a plot for tick labels and the y title, and below it for the x labels.
const LEFT: i32 = 100;
const BOTTOM_LAST: i32 = 58;
const BOTTOM: i32 = 32;
const TICK_SIZE: f32 = 13.0;
const AXIS_TITLE_SIZE: f32 = 14.0;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// How a line is stroked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
}

/// How one series (or a legend entry for it) looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Style {
    pub colour: RGBColor,
    pub dash: Dash,
    /// Dots on the data points (sparse series: sweep and scaling curves).
    pub marker: bool,
}

impl Style {
    /// The look of the variant at `index`: its colour, dashed once colours repeat.
    pub fn variant(index: usize) -> Style {
        Style {
            colour: palette::variant(index),
            dash: if palette::repeats(index) {
                Dash::Dashed
            } else {
                Dash::Solid
            },
            marker: false,
        }
    }

    pub fn dashed(self) -> Style {
        Style {
            dash: Dash::Dashed,
            ..self
        }
    }

    pub fn with_marker(self) -> Style {
        Style { marker: true, ..self }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    pub label: String,
    pub style: Style,
}

/// A rectangle of the canvas in pixels.
#[derive(Clone, Copy, Debug)]
pub struct Rect {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl Rect {
    /// Splits into `n` equal rows.
    fn rows(self, n: usize) -> Vec<Rect> {
        let h = (self.y1 - self.y0) / n.max(1) as i32;
        (0..n as i32)
            .map(|k| Rect {
                y0: self.y0 + k * h,
                y1: self.y0 + (k + 1) * h,
                ..self
            })
            .collect()
    }
}

/// The data area of one plot and its axes: maps values to pixels.
pub struct Plot<'x> {
    pub area: Rect,
    pub x: &'x Axis,
    pub y: &'x Axis,
}

impl Plot<'_> {
    fn along(a: &Axis, v: f64, from: i32, to: i32) -> Option<i32> {
        let r = a.range();
        let f = (a.pos(v)? - r.start) / (r.end - r.start);
        Some(from + (f * f64::from(to - from)).round() as i32)
    }

    pub fn px(&self, v: f64) -> Option<i32> {
        Plot::along(self.x, v, self.area.x0, self.area.x1)
    }

    pub fn py(&self, v: f64) -> Option<i32> {
        Plot::along(self.y, v, self.area.y1, self.area.y0)
    }

    pub fn point(&self, (x, y): (f64, f64)) -> Option<(i32, i32)> {
        Some((self.px(x)?, self.py(y)?))
    }
}

/// What a chart draws on: plotters' drawing area for shapes, and the labels to rasterise on top.
pub struct Canvas<'a, 'b> {
    root: &'a Area<'b>,
    pub fonts: &'static Fonts,
    labels: Vec<Label>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Canvas<'_, '_> {
    pub fn line(&self, pts: &[(i32, i32)], colour: RGBColor, width: u32, dash: Dash) -> Result<(), String> {
        let style = ShapeStyle::from(&colour).stroke_width(width);
        match dash {
            Dash::Solid => self.root.draw(&PathElement::new(pts.to_vec(), style)).map_err(err),
            Dash::Dashed => (self.root)
                .draw(&plotters::element::DashedPathElement::new(
                    pts.iter().copied(),
                    8,
                    5,
                    style,
                ))
                .map_err(err),
            Dash::Dotted => (self.root)
                .draw(&plotters::element::DashedPathElement::new(
                    pts.iter().copied(),
                    2,
                    4,
                    style,
                ))
                .map_err(err),
        }
    }

    pub fn rect(&self, a: (i32, i32), b: (i32, i32), colour: RGBColor) -> Result<(), String> {
        self.root.draw(&Rectangle::new([a, b], colour.filled())).map_err(err)
    }

    pub fn dot(&self, at: (i32, i32), r: i32, colour: RGBColor) -> Result<(), String> {
        self.root.draw(&Circle::new(at, r, colour.filled())).map_err(err)
    }

    pub fn text(&mut self, l: Label) {
        self.labels.push(l);
    }

    /// A grey sentence in the middle of an empty plot ("No packets were delivered").
    pub fn note(&mut self, r: Rect, s: &str) {
        self.text(
            Label::new(s, ((r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2), 16.0, palette::MUTED)
                .align(HAlign::Center, VAlign::Middle),
        );
    }

    /// Grid lines and labels at the y ticks (and at `x_ticks` when `x_grid`), the axes, tick
    /// marks and axis titles. `x_ticks` are (pixel, label).
    pub fn mesh(
        &mut self,
        p: &Plot<'_>,
        x_ticks: &[(i32, String)],
        x_grid: bool,
        titles: (Option<&str>, &str),
    ) -> Result<(), String> {
        let a = p.area;
        for &t in &p.y.ticks {
            let Some(y) = p.py(t) else { continue };
            self.line(&[(a.x0, y), (a.x1, y)], palette::GRID, 1, Dash::Solid)?;
            self.line(&[(a.x0 - 5, y), (a.x0, y)], palette::AXIS, 1, Dash::Solid)?;
            self.text(
                Label::new(p.y.label(t), (a.x0 - 9, y), TICK_SIZE, palette::TICK).align(HAlign::Right, VAlign::Middle),
            );
        }
        for (x, label) in x_ticks {
            if x_grid {
                self.line(&[(*x, a.y0), (*x, a.y1)], palette::GRID, 1, Dash::Solid)?;
            }
            self.line(&[(*x, a.y1), (*x, a.y1 + 5)], palette::AXIS, 1, Dash::Solid)?;
            self.text(Label::new(label, (*x, a.y1 + 9), TICK_SIZE, palette::TICK).align(HAlign::Center, VAlign::Top));
        }
        self.line(
            &[(a.x0, a.y0), (a.x0, a.y1), (a.x1, a.y1)],
            palette::AXIS,
            1,
            Dash::Solid,
        )?;
        let (x_title, y_title) = titles;
        if let Some(t) = x_title {
            self.text(
                Label::new(t, ((a.x0 + a.x1) / 2, a.y1 + 32), AXIS_TITLE_SIZE, palette::TEXT)
                    .align(HAlign::Center, VAlign::Top),
            );
        }
        let y_title = self
            .fonts
            .fit(y_title, AXIS_TITLE_SIZE, false, (a.y1 - a.y0 + 20) as f32);
        self.text(
            Label::new(
                y_title,
                (a.x0 - LEFT + 8, (a.y0 + a.y1) / 2),
                AXIS_TITLE_SIZE,
                palette::TEXT,
            )
            .align(HAlign::Center, VAlign::Top)
            .vertical(),
        );
        Ok(())
    }

    /// Ticks of a numeric x axis as (pixel, label).
    pub fn x_ticks(p: &Plot<'_>) -> Vec<(i32, String)> {
        (p.x.ticks.iter())
            .filter_map(|&t| Some((p.px(t)?, p.x.label(t))))
            .collect()
    }
}

/// The data rectangles of `n` stacked panels inside the plot column.
pub fn panels(n: usize, height: u32) -> Vec<(Rect, bool)> {
    let column = Rect {
        x0: 0,
        y0: TITLE_H,
        x1: WIDTH as i32 - LEGEND_W,
        y1: height as i32,
    };
    let rows = column.rows(n.max(1));
    let last = rows.len() - 1;
    rows.into_iter()
        .enumerate()
        .map(|(k, r)| {
            let bottom = if k == last { BOTTOM_LAST } else { BOTTOM };
            let data = Rect {
                x0: r.x0 + LEFT,
                y0: r.y0 + 12,
                x1: r.x1 - 24,
                y1: r.y1 - bottom,
            };
            (data, k == last)
        })
        .collect()
}

/// Draws a chart: white page, title, legend column; `plot` draws the data. Returns the PNG.
pub(crate) fn render(
    name: &str,
    title: &str,
    height: u32,
    legend: &[LegendEntry],
    plot: impl FnOnce(&mut Canvas<'_, '_>) -> Result<(), String>,
) -> Result<Vec<u8>, ReportError> {
    let fonts = fonts()?;
    let draw_err = |detail: String| ReportError::Draw {
        chart: name.to_string(),
        detail,
    };
    let mut rgb = vec![0u8; (WIDTH * height * 3) as usize];
    let labels = {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
        let mut c = Canvas {
            root: &root,
            fonts,
            labels: Vec::new(),
        };
        let title = fonts.fit(title, 21.0, true, WIDTH as f32 - 40.0);
        c.text(Label::new(title, (20, 14), 21.0, palette::TEXT).bold());
        plot(&mut c).map_err(draw_err)?;
        draw_legend(&mut c, legend, height).map_err(draw_err)?;
        let labels = std::mem::take(&mut c.labels);
        root.present().map_err(|e| draw_err(e.to_string()))?;
        labels
    };
    fonts.rasterise(&mut rgb, WIDTH, height, &labels);
    encode::png(&rgb, WIDTH, height).map_err(|detail| ReportError::Encode {
        chart: name.to_string(),
        detail,
    })
}

fn draw_legend(c: &mut Canvas<'_, '_>, entries: &[LegendEntry], height: u32) -> Result<(), String> {
    let x = WIDTH as i32 - LEGEND_W + 6;
    let rows = ((height as i32 - TITLE_H - 20) / LEGEND_ROW).max(1) as usize;
    let (shown, hidden) = if entries.len() > rows {
        (rows - 1, entries.len() - (rows - 1))
    } else {
        (entries.len(), 0)
    };
    for (k, e) in entries.iter().take(shown).enumerate() {
        let y = TITLE_H + 16 + k as i32 * LEGEND_ROW;
        let s = e.style;
        c.line(&[(x, y), (x + 28, y)], s.colour, 3, s.dash)?;
        if s.marker {
            c.dot((x + 14, y), 4, s.colour)?;
        }
        let label = c.fonts.fit(&e.label, 13.0, false, (LEGEND_W - 50) as f32);
        c.text(Label::new(label, (x + 36, y), 13.0, palette::TEXT).align(HAlign::Left, VAlign::Middle));
    }
    if hidden > 0 {
        let y = TITLE_H + 16 + shown as i32 * LEGEND_ROW;
        c.text(
            Label::new(format!("+ {hidden} more"), (x + 36, y), 13.0, palette::MUTED)
                .align(HAlign::Left, VAlign::Middle),
        );
    }
    Ok(())
}
