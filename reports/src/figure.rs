//! A report's figures: a chart (as data), its file name, the caption that says where its numbers
//! come from, and alt text. A section with nothing to draw is a `Block::Note` instead, so the
//! page says so ("No packets were dropped") rather than showing an empty chart.

use crate::chart::{BarChart, LineChart};
use crate::{encode, ReportError, ReportFile};

#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    Line(LineChart),
    Bar(BarChart),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The chart; its name is the file stem (the PNG is `<name>.png`).
    pub spec: Spec,
    pub caption: String,
    pub alt: String,
}

impl Figure {
    /// The file stem: the chart's name.
    pub fn file(&self) -> &str {
        match &self.spec {
            Spec::Line(c) => &c.name,
            Spec::Bar(c) => &c.name,
        }
    }

    pub fn title(&self) -> &str {
        match &self.spec {
            Spec::Line(c) => &c.title,
            Spec::Bar(c) => &c.title,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Figure(Box<Figure>),
    /// A heading and a sentence in place of a chart.
    Note {
        heading: String,
        text: String,
    },
}

impl Block {
    pub fn figure(f: Figure) -> Block {
        Block::Figure(Box::new(f))
    }
}

/// A figure drawn: its PNG and what the page needs to embed it.
pub struct Drawn {
    pub file: String,
    pub title: String,
    pub caption: String,
    pub alt: String,
    pub png: Vec<u8>,
}

impl Drawn {
    pub fn data_uri(&self) -> String {
        encode::data_uri(&self.png)
    }
}

/// A page block after drawing.
pub enum Shown {
    Figure(Drawn),
    Note { heading: String, text: String },
}

pub fn draw(blocks: Vec<Block>) -> Result<Vec<Shown>, ReportError> {
    blocks
        .into_iter()
        .map(|b| match b {
            Block::Figure(f) => {
                let f = *f;
                let png = match &f.spec {
                    Spec::Line(c) => c.draw()?,
                    Spec::Bar(c) => c.draw()?,
                };
                Ok(Shown::Figure(Drawn {
                    title: f.title().to_string(),
                    file: format!("{}.png", f.file()),
                    caption: f.caption,
                    alt: f.alt,
                    png,
                }))
            }
            Block::Note { heading, text } => Ok(Shown::Note { heading, text }),
        })
        .collect()
}

/// report.html first, then every chart's PNG in page order.
pub fn files(html: String, shown: Vec<Shown>) -> Vec<ReportFile> {
    let mut out = vec![ReportFile {
        name: "report.html".into(),
        bytes: html.into_bytes(),
    }];
    out.extend(shown.into_iter().filter_map(|s| match s {
        Shown::Figure(d) => Some(ReportFile {
            name: d.file,
            bytes: d.png,
        }),
        Shown::Note { .. } => None,
    }));
    out
}
