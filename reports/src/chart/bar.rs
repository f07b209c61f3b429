//! Grouped bar charts: a group per category (a metric, a drop reason, a variant), a bar per
//! variant in the variant's colour, the value written over each bar when there is room.

use super::axis::{Axis, Fit, Scale};
use super::{panels, render, LegendEntry, Plot};
use crate::palette;
use crate::text::{HAlign, Label, VAlign};
use crate::units::Unit;
use crate::ReportError;
use plotters::style::RGBColor;

#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub colour: RGBColor,
    /// None: nothing to show for this variant here (no bar, no label).
    pub value: Option<f64>,
    /// Written over the bar when it fits; defaults to the value in the axis unit.
    pub text: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BarGroup {
    pub label: String,
    pub bars: Vec<Bar>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    /// File stem (the PNG is `<name>.png`), also named in errors.
    pub name: String,
    pub title: String,
    pub x_title: String,
    pub y_title: String,
    pub y_unit: Unit,
    pub y_scale: Scale,
    pub groups: Vec<BarGroup>,
    pub legend: Vec<LegendEntry>,
    pub empty_note: String,
}

const VALUE_SIZE: f32 = 12.0;

impl BarChart {
    fn label(&self, b: &Bar, unit: Unit) -> Option<String> {
        let v = b.value?;
        Some(b.text.clone().unwrap_or_else(|| unit.format(v)))
    }

    pub fn draw(&self) -> Result<Vec<u8>, ReportError> {
        let fonts = crate::text::fonts()?;
        let values = || self.groups.iter().flat_map(|g| &g.bars).filter_map(|b| b.value);
        let has_data = values().any(|v| v > 0.0);
        let n = self.groups.len().max(1);
        let (area, _) = panels(1, super::HEIGHT)[0];
        let slot = f64::from(area.x1 - area.x0) / n as f64;
        let per_group = self.groups.iter().map(|g| g.bars.len()).max().unwrap_or(1).max(1) as f64;
        let bar_w = slot * 0.8 / per_group;
        // Value labels read across when each fits over its bar, else upwards; the axis leaves
        // room above the tallest bar for the longest.
        let widest = (self.groups.iter().flat_map(|g| &g.bars))
            .filter_map(|b| self.label(b, self.y_unit))
            .map(|l| fonts.width(&l, VALUE_SIZE, false))
            .fold(0.0f32, f32::max);
        let vertical = widest > bar_w as f32 + 4.0;
        let label_h = if vertical { widest + 8.0 } else { VALUE_SIZE + 8.0 };
        let mut fit = Fit::new(self.y_unit, self.y_scale);
        fit.headroom = f64::from(label_h) / f64::from(area.y1 - area.y0);
        let y = Axis::fit(values(), fit);
        // Groups sit at 0..n; the x axis only places them.
        let x = Axis::categories(self.groups.iter().map(|g| g.label.clone()).collect());
        render(&self.name, &self.title, super::HEIGHT, &self.legend, |c| {
            let p = Plot { area, x: &x, y: &y };
            let ticks: Vec<(i32, String)> = (self.groups.iter().enumerate())
                .map(|(i, g)| {
                    let centre = area.x0 + (slot * (i as f64 + 0.5)).round() as i32;
                    (centre, c.fonts.fit(&g.label, 13.0, false, slot as f32 - 8.0))
                })
                .collect();
            let x_title = (!self.x_title.is_empty()).then_some(self.x_title.as_str());
            c.mesh(&p, &ticks, false, (x_title, &self.y_title))?;
            let base = p.py(y.baseline()).unwrap_or(area.y1);
            for (gi, g) in self.groups.iter().enumerate() {
                // Bars of a group are centred in its slot.
                let used = bar_w * g.bars.len() as f64;
                let start = f64::from(area.x0) + slot * gi as f64 + (slot - used) / 2.0;
                for (bi, b) in g.bars.iter().enumerate() {
                    let Some(v) = b.value else { continue };
                    let left = start + bar_w * bi as f64;
                    let (x0, x1) = (left.round() as i32, (left + bar_w * 0.9).round() as i32);
                    // A value a log axis cannot show (zero) gets no bar, only its label.
                    let top = p.py(v).unwrap_or(base).min(base);
                    if top < base {
                        c.rect((x0, top), (x1.max(x0 + 1), base), b.colour)?;
                    }
                    let Some(text) = self.label(b, self.y_unit) else {
                        continue;
                    };
                    let label = Label::new(text, ((x0 + x1) / 2, top - 4), VALUE_SIZE, palette::TEXT);
                    c.text(if vertical {
                        label.align(HAlign::Left, VAlign::Middle).vertical()
                    } else {
                        label.align(HAlign::Center, VAlign::Bottom)
                    });
                }
            }
            if !has_data {
                c.note(area, &self.empty_note);
            }
            Ok(())
        })
    }
}
