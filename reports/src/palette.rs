//! The fixed colours of a report. A variant keeps its colour (by its index in the run) in every
//! chart, so a reader learns it once. Tableau 10: distinct in print and for the common forms of
//! colour blindness; past ten variants the colours repeat and the lines turn dashed.

use plotters::style::RGBColor;

const TABLEAU_10: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

/// The colour of the variant at `index`.
pub fn variant(index: usize) -> RGBColor {
    TABLEAU_10[index % TABLEAU_10.len()]
}

/// Whether the variant at `index` shares its colour with an earlier one (draw it dashed).
pub fn repeats(index: usize) -> bool {
    index >= TABLEAU_10.len()
}

/// Reference lines (limits such as nf_conntrack_max) that belong to no variant.
pub const REFERENCE: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub const TICK: RGBColor = RGBColor(0x44, 0x44, 0x44);
pub const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
pub const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
pub const AXIS: RGBColor = RGBColor(0x88, 0x88, 0x88);

/// `#rrggbb`, for the HTML swatches that match the charts.
pub fn css(index: usize) -> String {
    let RGBColor(r, g, b) = variant(index);
    format!("#{r:02x}{g:02x}{b:02x}")
}
