//! Pixels to files: an RGB buffer to PNG bytes, and PNG bytes to the data: URI the HTML embeds.
//! PNG encoding is deterministic (fixed compression settings, no timestamps or text chunks), so
//! the same chart gives the same bytes.

use base64::Engine as _;

/// Encodes a `width` × `height` RGB8 buffer as PNG.
pub fn png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Balanced);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(rgb).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// `data:image/png;base64,...`
pub fn data_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}
