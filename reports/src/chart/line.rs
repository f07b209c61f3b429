//! Line charts: one or more panels stacked over a shared x axis (a timeline of several
//! quantities, or one curve family). A panel takes any number of series and dotted reference
//! lines (a limit such as nf_conntrack_max), so a later model adds series without new code.

use super::axis::{Axis, Fit, Scale};
use super::{panels, render, Canvas, Dash, LegendEntry, Plot, Rect, Style};
use crate::palette;
use crate::text::{HAlign, Label, VAlign};
use crate::units::Unit;
use crate::ReportError;
use plotters::style::RGBColor;

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    pub style: Style,
    /// (x, y) in data units; points a log axis cannot show (≤ 0) are left out.
    pub points: Vec<(f64, f64)>,
}

/// A horizontal reference line across the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct RefLine {
    pub label: String,
    pub colour: RGBColor,
    pub y: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub y_title: String,
    pub y_fit: Fit,
    pub series: Vec<Series>,
    pub refs: Vec<RefLine>,
}

impl Panel {
    pub fn new(y_title: impl Into<String>, unit: Unit, scale: Scale) -> Panel {
        Panel {
            y_title: y_title.into(),
            y_fit: Fit::new(unit, scale),
            series: Vec::new(),
            refs: Vec::new(),
        }
    }

    fn has_data(&self) -> bool {
        self.series.iter().any(|s| !s.points.is_empty())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    /// File stem (the PNG is `<name>.png`), also named in errors.
    pub name: String,
    pub title: String,
    pub x_title: String,
    pub x_fit: Fit,
    /// Names for x = 0, 1, 2... when the x values are not numbers.
    pub x_categories: Option<Vec<String>>,
    pub panels: Vec<Panel>,
    /// Shown in a panel that has no data.
    pub empty_note: String,
}

impl LineChart {
    pub fn new(name: &str, title: impl Into<String>, x_title: impl Into<String>, x_fit: Fit) -> LineChart {
        LineChart {
            name: name.to_string(),
            title: title.into(),
            x_title: x_title.into(),
            x_fit,
            x_categories: None,
            panels: Vec::new(),
            empty_note: "No data".into(),
        }
    }

    /// Every series and reference line, once per label, in order of appearance.
    pub fn legend(&self) -> Vec<LegendEntry> {
        let mut out: Vec<LegendEntry> = Vec::new();
        let mut push = |label: &str, style: Style| {
            if !out.iter().any(|e| e.label == label) {
                out.push(LegendEntry {
                    label: label.to_string(),
                    style,
                });
            }
        };
        for p in &self.panels {
            for s in &p.series {
                push(&s.label, s.style);
            }
            for r in &p.refs {
                push(
                    &r.label,
                    Style {
                        colour: r.colour,
                        dash: Dash::Dotted,
                        marker: false,
                    },
                );
            }
        }
        out
    }

    pub fn draw(&self) -> Result<Vec<u8>, ReportError> {
        let height = super::HEIGHT + 190 * self.panels.len().saturating_sub(1) as u32;
        let x = match &self.x_categories {
            Some(names) => Axis::categories(names.clone()),
            None => Axis::fit(
                self.panels
                    .iter()
                    .flat_map(|p| &p.series)
                    .flat_map(|s| s.points.iter().map(|p| p.0)),
                self.x_fit,
            ),
        };
        render(&self.name, &self.title, height, &self.legend(), |c| {
            for (panel, (area, last)) in self.panels.iter().zip(panels(self.panels.len(), height)) {
                self.draw_panel(c, panel, area, &x, last)?;
            }
            Ok(())
        })
    }

    fn draw_panel(
        &self,
        c: &mut Canvas<'_, '_>,
        panel: &Panel,
        area: Rect,
        x: &Axis,
        last: bool,
    ) -> Result<(), String> {
        let y_values = panel
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(panel.refs.iter().map(|r| r.y));
        let y = Axis::fit(y_values, panel.y_fit);
        let p = Plot { area, x, y: &y };
        let x_title = last.then_some(self.x_title.as_str());
        c.mesh(&p, &Canvas::x_ticks(&p), true, (x_title, &panel.y_title))?;
        for r in &panel.refs {
            let Some(ry) = p.py(r.y) else { continue };
            c.line(&[(area.x0, ry), (area.x1, ry)], r.colour, 2, Dash::Dotted)?;
            let label = format!("{} = {}", r.label, y.unit.format(r.y));
            c.text(Label::new(label, (area.x1 - 4, ry - 3), 12.0, palette::MUTED).align(HAlign::Right, VAlign::Bottom));
        }
        for s in &panel.series {
            let pts: Vec<(i32, i32)> = s.points.iter().filter_map(|&v| p.point(v)).collect();
            c.line(&pts, s.style.colour, 2, s.style.dash)?;
            if s.style.marker {
                for &pt in &pts {
                    c.dot(pt, 4, s.style.colour)?;
                }
            }
        }
        if !panel.has_data() {
            c.note(area, &self.empty_note);
        }
        Ok(())
    }
}
