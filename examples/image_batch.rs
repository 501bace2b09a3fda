//! A CPU-bound batch through a `Pool`: generate grayscale images in memory, then blur, resize
//! and checksum each one on the pool's workers, with a progress line, per-item errors collected
//! (some inputs are invalid on purpose, one is corrupt enough to panic), the pool's metrics at
//! the end, a clean shutdown and the leak check.
//!
//! Run: `cargo run --release --example image_batch` (`HOMEBOUND_QUICK=1` for a small batch).

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use homebound::{Context, pool::Pool, task::JoinError, threads};

/// An 8-bit grayscale image as it arrives: a header that may lie, and its pixels.
struct Image {
    id: usize,
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

/// Why an image could not be processed.
#[derive(Debug)]
enum ImageError {
    Empty,
    SizeMismatch { expected: usize, got: usize },
    TooSmall { width: usize, height: usize },
    Cancelled,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Empty => f.write_str("empty image"),
            ImageError::SizeMismatch { expected, got } => {
                write!(f, "header says {expected} pixels, data has {got}")
            }
            ImageError::TooSmall { width, height } => {
                write!(f, "{width}x{height} is too small to resize")
            }
            ImageError::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// What a processed image comes back as.
struct Summary {
    width: usize,
    height: usize,
    checksum: u64,
}

/// A deterministic pseudo-random image; every 25th is broken in one of three ways, and image
/// 13 has a header that claims more rows than it has (so it panics deep in the blur).
fn generate(id: usize, side: usize) -> Image {
    let mut state = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut pixels = Vec::with_capacity(side * side);
    for _ in 0..side * side {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        pixels.push((state >> 56) as u8);
    }
    let (mut width, mut height) = (side, side);
    match (id % 25, id) {
        (_, 13) => height += 1, // the header claims one row more than the data has
        (7, _) => pixels.clear(),
        (11, _) => pixels.truncate(side),
        (19, _) => (width, height, pixels) = (1, 1, vec![0]),
        _ => {}
    }
    Image {
        id,
        width,
        height,
        pixels,
    }
}

fn validate(img: &Image) -> Result<(), ImageError> {
    if img.pixels.is_empty() {
        return Err(ImageError::Empty);
    }
    if img.width < 2 || img.height < 2 {
        return Err(ImageError::TooSmall {
            width: img.width,
            height: img.height,
        });
    }
    // A sloppy check (at least one row per claimed row minus one), as real decoders have:
    let expected = img.width * img.height;
    if img.pixels.len() + img.width < expected {
        return Err(ImageError::SizeMismatch {
            expected,
            got: img.pixels.len(),
        });
    }
    Ok(())
}

/// 3×3 box blur, edges clamped. Indexes by the header's size.
fn blur(img: &Image) -> Vec<u8> {
    let (w, h) = (img.width, img.height);
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0u32;
            for dy in [-1i64, 0, 1] {
                for dx in [-1i64, 0, 1] {
                    let yy = (y as i64 + dy).clamp(0, h as i64 - 1) as usize;
                    let xx = (x as i64 + dx).clamp(0, w as i64 - 1) as usize;
                    sum += u32::from(img.pixels[yy * w + xx]);
                }
            }
            out[y * w + x] = (sum / 9) as u8;
        }
    }
    out
}

/// Halves each side by averaging 2×2 blocks.
fn resize_half(pixels: &[u8], w: usize, h: usize) -> (Vec<u8>, usize, usize) {
    let (nw, nh) = (w / 2, h / 2);
    let mut out = Vec::with_capacity(nw * nh);
    for y in 0..nh {
        for x in 0..nw {
            let at = |dx, dy| u32::from(pixels[(2 * y + dy) * w + 2 * x + dx]);
            out.push(((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1)) / 4) as u8);
        }
    }
    (out, nw, nh)
}

/// FNV-1a over the pixels.
fn checksum(pixels: &[u8]) -> u64 {
    pixels.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn process(ctx: &Context, img: Image) -> Result<Summary, ImageError> {
    validate(&img)?;
    let blurred = blur(&img);
    ctx.check().map_err(|_| ImageError::Cancelled)?;
    let (small, width, height) = resize_half(&blurred, img.width, img.height);
    ctx.check().map_err(|_| ImageError::Cancelled)?;
    Ok(Summary {
        width,
        height,
        checksum: checksum(&small),
    })
}

fn main() {
    let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
    let (count, side) = if quick { (120, 160) } else { (400, 384) };
    let workers = num_cpus::get().max(2);
    println!("image_batch: {count} images of {side}x{side} on {workers} workers");

    let pool = Pool::builder()
        .name("image")
        .workers(workers)
        .queue_capacity(2 * workers) // backpressure: the generator never runs far ahead
        .panic_handler(|p| {
            eprintln!(
                "  (panic caught on {}: {})",
                p.thread().unwrap_or("?"),
                p.message()
            )
        })
        .build()
        .expect("a valid pool configuration");

    let started = Instant::now();
    let mut handles = Vec::with_capacity(count);
    for id in 0..count {
        let img = generate(id, side);
        let handle = pool
            .submit_named(&format!("image-{}", img.id), move |ctx| process(ctx, img))
            .expect("the pool is open");
        handles.push((id, handle));
    }

    let mut ok = 0usize;
    let mut errors: Vec<(usize, String)> = Vec::new();
    let mut digest = 0u64;
    let mut out_size = (0, 0);
    for (done, (id, handle)) in handles.into_iter().enumerate() {
        match handle.join() {
            Ok(Ok(summary)) => {
                ok += 1;
                digest ^= summary.checksum;
                out_size = (summary.width, summary.height);
            }
            Ok(Err(e)) => errors.push((id, e.to_string())),
            Err(JoinError::Panicked(p)) => errors.push((id, format!("panicked: {}", p.message()))),
            Err(e) => errors.push((id, e.to_string())),
        }
        let done = done + 1;
        if done % 10 == 0 || done == count {
            let bar = (done * 30) / count;
            print!(
                "\r  [{}{}] {done}/{count} images, {} errors",
                "#".repeat(bar),
                ".".repeat(30 - bar),
                errors.len()
            );
            let _ = std::io::stdout().flush();
        }
    }
    println!();
    let elapsed = started.elapsed();
    println!(
        "processed {ok} images to {}x{} in {elapsed:.2?} (digest {digest:016x})",
        out_size.0, out_size.1
    );
    println!("{} per-item errors:", errors.len());
    for (id, e) in &errors {
        println!("  image {id}: {e}");
    }

    let report = pool.shutdown();
    println!("{report}");
    println!("metrics: {}", report.metrics());
    assert!(report.is_complete());
    assert!(report.metrics().is_conserved());
    drop(pool);
    threads::assert_none_alive(Duration::from_secs(5));
    println!("no homebound thread left alive");
}
