//! Profile photos: sniff, decode within limits, crop to a centred square, scale to 256×256 PNG.

use std::io::Cursor;

use axum::http::StatusCode;
use image::{imageops::FilterType, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
pub const SIZE: u32 = 256;
const MAX_DIMENSION: u32 = 12_000;
/// The most pixels a photo may have (a 40-megapixel camera's). Checked from the header before
/// decoding: a few kilobytes of PNG can claim 12000×12000 and decode to half a gigabyte.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Where someone's photo is served, with its ETag so a new photo gets a new URL; `None`
/// without one.
pub fn url_of(u: &crate::store::UserRow) -> Option<String> {
    u.avatar_etag.as_ref().map(|etag| format!("/api/v1/users/{}/avatar?v={etag}", u.id))
}

/// A processed avatar: PNG bytes and the ETag that identifies them.
pub struct Avatar {
    pub png: Vec<u8>,
    pub etag: String,
}

/// Turns an uploaded image into a stored avatar, refusing anything that is not a PNG, JPEG or
/// WebP that decodes (by content, whatever the declared type says).
pub async fn process(bytes: Vec<u8>) -> Result<Avatar> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(too_large());
    }
    tokio::task::spawn_blocking(move || process_blocking(&bytes))
        .await
        .map_err(|e| anyhow::anyhow!("avatar task: {e}"))?
}

pub fn too_large() -> Error {
    Error::client(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "profile photos are limited to 5 MB")
}

fn unsupported(what: &str) -> Error {
    Error::client(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_image",
        format!("{what} must be a PNG, JPEG or WebP image"),
    )
}

/// Decodes an uploaded PNG, JPEG or WebP (judged by its content, whatever the declared type
/// says) within size limits; anything else is a 415 naming `what` was uploaded.
pub(crate) fn decode(bytes: &[u8], what: &str) -> Result<image::DynamicImage> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| unsupported(what))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP) => {}
        _ => return Err(unsupported(what)),
    }
    // The header alone says how big the bitmap would be; refuse before allocating it.
    let mut peek = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|_| unsupported(what))?;
    // Reading the header allocates nothing; the limits that follow are this code's own.
    peek.no_limits();
    let (width, height) = peek.into_dimensions().map_err(|_| unsupported(what))?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(Error::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "image_too_large",
            format!(
                "the {what} is {width}×{height} pixels; at most {} megapixels are accepted",
                MAX_PIXELS / 1_000_000
            ),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    // Room for the largest accepted photo as 8-bit RGBA, and a little for the decoder.
    limits.max_alloc = Some(MAX_PIXELS * 4 + 16 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| {
        Error::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_image",
            format!("image could not be decoded: {e}"),
        )
    })?;
    if img.width() == 0 || img.height() == 0 {
        return Err(unsupported(what));
    }
    Ok(img)
}

pub(crate) fn process_blocking(bytes: &[u8]) -> Result<Avatar> {
    let img = decode(bytes, "profile photo")?;
    let side = img.width().min(img.height());
    let square = img.crop_imm((img.width() - side) / 2, (img.height() - side) / 2, side, side);
    let scaled = square.resize_exact(SIZE, SIZE, FilterType::Lanczos3);
    let mut png = Vec::new();
    scaled
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| anyhow::anyhow!("encoding avatar: {e}"))?;
    let etag = hex::encode(&Sha256::digest(&png)[..12]);
    Ok(Avatar { png, etag })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wide_jpeg_becomes_square_png() {
        let img = image::RgbImage::from_fn(640, 360, |x, _| image::Rgb([(x % 256) as u8, 10, 200]));
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg).unwrap();
        let out = process(jpeg).await.unwrap();
        let back = image::load_from_memory(&out.png).unwrap();
        assert_eq!((back.width(), back.height()), (SIZE, SIZE));
        assert_eq!(image::guess_format(&out.png).unwrap(), ImageFormat::Png);
    }

    #[tokio::test]
    async fn gif_and_garbage_are_refused() {
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
        assert_eq!(process(gif).await.err().unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let fake_png = b"\x89PNG\r\n\x1a\nnot really".to_vec();
        assert_eq!(process(fake_png).await.err().unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
