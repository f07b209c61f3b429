//! Chart text: DejaVu Sans regular and bold compiled into the crate (Bitstream Vera licence,
//! fonts/LICENSE), laid out and rasterised with ab_glyph straight into the chart's RGB buffer.
//! The same pixels on any machine, with or without system fonts.
//!
//! Text is not drawn through plotters: its ab_glyph backend places each glyph at a truncated
//! pen position without the glyph's side bearing, which spaces letters unevenly. Here glyphs
//! keep sub-pixel positions, bearings and kerning; labels are collected while the shapes are
//! drawn and rasterised on top of them at the end.

use crate::ReportError;
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::style::RGBColor;
use std::sync::OnceLock;

static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

pub struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

/// The parsed fonts, once per process.
pub fn fonts() -> Result<&'static Fonts, ReportError> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            Some(Fonts {
                regular: FontRef::try_from_slice(REGULAR).ok()?,
                bold: FontRef::try_from_slice(BOLD).ok()?,
            })
        })
        .as_ref()
        .ok_or(ReportError::Font)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HAlign {
    Left,
    Center,
    Right,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VAlign {
    Top,
    Middle,
    Bottom,
}

/// A piece of text at a pixel position, anchored by its alignment.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub text: String,
    pub at: (i32, i32),
    pub size: f32,
    pub bold: bool,
    pub colour: RGBColor,
    pub h: HAlign,
    pub v: VAlign,
    /// Turned 90° anticlockwise (a y-axis title, read bottom to top).
    pub vertical: bool,
}

impl Label {
    pub fn new(text: impl Into<String>, at: (i32, i32), size: f32, colour: RGBColor) -> Label {
        Label {
            text: text.into(),
            at,
            size,
            bold: false,
            colour,
            h: HAlign::Left,
            v: VAlign::Top,
            vertical: false,
        }
    }

    pub fn align(self, h: HAlign, v: VAlign) -> Label {
        Label { h, v, ..self }
    }

    pub fn bold(self) -> Label {
        Label { bold: true, ..self }
    }

    pub fn vertical(self) -> Label {
        Label { vertical: true, ..self }
    }
}

impl Fonts {
    fn font(&self, bold: bool) -> &FontRef<'static> {
        if bold {
            &self.bold
        } else {
            &self.regular
        }
    }

    /// The advance width of `s` in pixels.
    pub fn width(&self, s: &str, size: f32, bold: bool) -> f32 {
        let f = self.font(bold).as_scaled(PxScale::from(size));
        let mut w = 0.0;
        let mut prev = None;
        for c in s.chars() {
            let id = f.glyph_id(c);
            if let Some(p) = prev {
                w += f.kern(p, id);
            }
            w += f.h_advance(id);
            prev = Some(id);
        }
        w
    }

    /// `s`, shortened with an ellipsis until it fits in `max_w` pixels.
    pub fn fit(&self, s: &str, size: f32, bold: bool, max_w: f32) -> String {
        if self.width(s, size, bold) <= max_w {
            return s.to_string();
        }
        let chars: Vec<char> = s.chars().collect();
        (1..chars.len())
            .rev()
            .map(|n| chars[..n].iter().collect::<String>() + "…")
            .find(|t| self.width(t, size, bold) <= max_w)
            .unwrap_or_else(|| "…".into())
    }

    /// Draws every label into a `width` × `height` RGB8 buffer, blending by glyph coverage.
    pub fn rasterise(&self, rgb: &mut [u8], width: u32, height: u32, labels: &[Label]) {
        for l in labels {
            let font = self.font(l.bold);
            let f = font.as_scaled(PxScale::from(l.size));
            let w = self.width(&l.text, l.size, l.bold);
            let x0 = match l.h {
                HAlign::Left => 0.0,
                HAlign::Center => -w / 2.0,
                HAlign::Right => -w,
            };
            // Baseline relative to the anchor; Middle centres the ascent-to-descent box.
            let base = match l.v {
                VAlign::Top => f.ascent(),
                VAlign::Middle => (f.ascent() + f.descent()) / 2.0,
                VAlign::Bottom => f.descent(),
            };
            let mut caret = x0;
            let mut prev = None;
            for c in l.text.chars() {
                let id = f.glyph_id(c);
                if let Some(p) = prev {
                    caret += f.kern(p, id);
                }
                prev = Some(id);
                let glyph = id.with_scale_and_position(PxScale::from(l.size), point(caret, base));
                caret += f.h_advance(id);
                let Some(outline) = font.outline_glyph(glyph) else {
                    continue;
                };
                let b = outline.px_bounds();
                outline.draw(|gx, gy, cover| {
                    // Local coordinates (origin at the anchor), then turned if vertical.
                    let (lx, ly) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                    let (dx, dy) = if l.vertical { (ly, -lx) } else { (lx, ly) };
                    blend(rgb, width, height, (l.at.0 + dx, l.at.1 + dy), l.colour, cover);
                });
            }
        }
    }
}

fn blend(rgb: &mut [u8], width: u32, height: u32, (x, y): (i32, i32), c: RGBColor, cover: f32) {
    if x < 0 || y < 0 || x >= width as i32 || y >= height as i32 {
        return;
    }
    let i = (y as usize * width as usize + x as usize) * 3;
    let a = cover.clamp(0.0, 1.0);
    for (k, v) in [c.0, c.1, c.2].into_iter().enumerate() {
        let old = f32::from(rgb[i + k]);
        rgb[i + k] = (old + (f32::from(v) - old) * a).round() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_fonts_draw_text() {
        let f = fonts().expect("fonts load");
        let (w, h) = (200u32, 40u32);
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        let label = Label::new("Latency p99", (10, 10), 18.0, RGBColor(0, 0, 0)).bold();
        f.rasterise(&mut rgb, w, h, &[label]);
        let dark = rgb.chunks(3).filter(|p| p[0] < 128).count();
        assert!(dark > 100, "only {dark} dark pixels: the font drew nothing");
        // Nothing outside the label's box.
        let outside = rgb
            .chunks(3)
            .enumerate()
            .filter(|(i, p)| p[0] < 255 && (i % w as usize > 150 || i / w as usize > 34))
            .count();
        assert_eq!(outside, 0);
    }

    #[test]
    fn widths_grow_with_text_and_fit_shortens() {
        let f = fonts().unwrap();
        assert!(f.width("iptables-30000", 13.0, false) > f.width("iptables", 13.0, false));
        let short = f.fit("a very long variant name indeed", 13.0, false, 60.0);
        assert!(short.ends_with('…') && f.width(&short, 13.0, false) <= 60.0, "{short}");
        assert_eq!(f.fit("ok", 13.0, false, 60.0), "ok");
    }
}
