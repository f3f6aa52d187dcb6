//! Virtual background images: checked and decoded like profile photos (PNG, JPEG or WebP up to
//! 5 MB), scaled to fit 1920×1080 and stored as JPEG, so what the browser paints behind the
//! person is never bigger than a camera frame.

use std::io::Cursor;

use axum::http::StatusCode;
use image::{imageops::FilterType, ImageFormat};
use sha2::{Digest, Sha256};

use crate::avatar;
use crate::error::{Error, Result};

pub const MAX_UPLOAD_BYTES: usize = avatar::MAX_UPLOAD_BYTES;
const MAX_WIDTH: u32 = 1920;
const MAX_HEIGHT: u32 = 1080;

/// A processed background: JPEG bytes and the ETag that identifies them.
pub struct Background {
    pub jpeg: Vec<u8>,
    pub etag: String,
}

pub fn too_large() -> Error {
    Error::client(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "background images are limited to 5 MB")
}

/// Turns an upload into a stored background, refusing what is not a PNG, JPEG or WebP that
/// decodes (by content, whatever the declared type says).
pub async fn process(bytes: Vec<u8>) -> Result<Background> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(too_large());
    }
    tokio::task::spawn_blocking(move || process_blocking(&bytes))
        .await
        .map_err(|e| anyhow::anyhow!("background task: {e}"))?
}

fn process_blocking(bytes: &[u8]) -> Result<Background> {
    let img = avatar::decode(bytes, "background image")?;
    let img = if img.width() > MAX_WIDTH || img.height() > MAX_HEIGHT {
        img.resize(MAX_WIDTH, MAX_HEIGHT, FilterType::Triangle)
    } else {
        img
    };
    let mut jpeg = Vec::new();
    img.to_rgb8()
        .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
        .map_err(|e| anyhow::anyhow!("encoding background: {e}"))?;
    let etag = hex::encode(&Sha256::digest(&jpeg)[..12]);
    Ok(Background { jpeg, etag })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_big_png_becomes_a_jpeg_that_fits_full_hd() {
        let img =
            image::RgbaImage::from_fn(3000, 1000, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255]));
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).unwrap();
        let out = process(png).await.unwrap();
        let back = image::load_from_memory(&out.jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (1920, 640), "aspect kept, within 1920×1080");
        assert_eq!(image::guess_format(&out.jpeg).unwrap(), ImageFormat::Jpeg);
    }

    #[tokio::test]
    async fn svg_and_oversized_uploads_are_refused() {
        let svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec();
        let err = process(svg).await.err().unwrap();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let big = vec![0u8; MAX_UPLOAD_BYTES + 1];
        assert_eq!(process(big).await.err().unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
