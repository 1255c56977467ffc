//! The four icons, embedded in the binary (PNGs drawn by `icons/make-icons.py`), decoded once.

use std::sync::OnceLock;

use crate::model::IconKind;

/// An image as straight RGBA bytes, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl Image {
    /// ARGB32 in network byte order, as StatusNotifierItem's `IconPixmap` wants it.
    pub fn argb(&self) -> Vec<u8> {
        self.rgba
            .chunks_exact(4)
            .flat_map(|p| [p[3], p[0], p[1], p[2]])
            .collect()
    }
}

fn png(kind: IconKind) -> &'static [u8] {
    match kind {
        IconKind::Ready => include_bytes!("../icons/ready.png"),
        IconKind::Degraded => include_bytes!("../icons/degraded.png"),
        IconKind::Error => include_bytes!("../icons/error.png"),
        IconKind::Stopped => include_bytes!("../icons/stopped.png"),
    }
}

fn decode(bytes: &[u8]) -> Result<Image, png::DecodingError> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::ALPHA | png::Transformations::EXPAND);
    let mut reader = decoder.read_info()?;
    let size = reader.output_buffer_size().unwrap_or(0);
    let mut rgba = vec![0; size];
    let info = reader.next_frame(&mut rgba)?;
    rgba.truncate(info.buffer_size());
    Ok(Image {
        width: info.width,
        height: info.height,
        rgba,
    })
}

/// The icon for `kind`.
pub fn image(kind: IconKind) -> &'static Image {
    static IMAGES: OnceLock<Vec<Image>> = OnceLock::new();
    let images = IMAGES.get_or_init(|| {
        IconKind::ALL
            .into_iter()
            .map(|k| {
                // The PNGs are part of the source; the test below decodes each one, so a
                // broken file fails the build's tests, never a user's tray.
                decode(png(k)).unwrap_or(Image {
                    width: 0,
                    height: 0,
                    rgba: Vec::new(),
                })
            })
            .collect()
    });
    let index = IconKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    &images[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_icon_decodes_to_64_square_rgba_and_they_differ() {
        let mut seen = Vec::new();
        for kind in IconKind::ALL {
            let image = decode(png(kind)).unwrap();
            assert_eq!((image.width, image.height), (64, 64), "{kind:?}");
            assert_eq!(image.rgba.len(), 64 * 64 * 4);
            assert_eq!(image, *super::image(kind));
            assert!(
                !seen.contains(&image.rgba),
                "{kind:?} looks like another icon"
            );
            seen.push(image.rgba);
        }
    }

    #[test]
    fn argb_moves_alpha_first() {
        let image = Image {
            width: 1,
            height: 1,
            rgba: vec![1, 2, 3, 4],
        };
        assert_eq!(image.argb(), vec![4, 1, 2, 3]);
    }
}
