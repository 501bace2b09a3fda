//! Splitting a file of lines into byte ranges that workers read and parse independently.
//!
//! Range `k` covers bytes `[k·size, (k+1)·size)` and owns every line whose first byte lies in
//! it: its worker skips the end of a line that started in the range before (reading one byte
//! before its start tells whether its start begins a line), and reads past its end to finish
//! its own last line. So every line is read by exactly one worker, whatever the split size,
//! a line longer than a range included (the ranges it covers own no line).

use std::io;
use std::ops::Range;

/// A source of bytes of known length that several threads can read at any offset at the
/// same time: what [`Pipeline::from_read_at`](super::Pipeline::from_read_at) splits across
/// workers. Implemented for files (Unix and Windows), byte slices and vectors, `str`, and
/// through `Arc` and `&'static` references.
///
/// # Examples
///
/// ```
/// use homebound::pipeline::ReadAt;
///
/// let bytes: Vec<u8> = b"hello".to_vec();
/// let mut buf = [0u8; 3];
/// assert_eq!(bytes.read_at(&mut buf, 2).unwrap(), 3);
/// assert_eq!(&buf, b"llo");
/// assert_eq!(bytes.size().unwrap(), 5);
/// ```
pub trait ReadAt: Send + Sync {
    /// The size in bytes.
    ///
    /// # Errors
    ///
    /// If the size cannot be read.
    fn size(&self) -> io::Result<u64>;

    /// Reads bytes from `offset` into `buf`; returns how many (0 at the end).
    ///
    /// # Errors
    ///
    /// A read error. `Interrupted` is retried by the caller.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

#[cfg(unix)]
impl ReadAt for std::fs::File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

#[cfg(windows)]
impl ReadAt for std::fs::File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(self, buf, offset)
    }
}

fn read_slice(bytes: &[u8], buf: &mut [u8], offset: u64) -> usize {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let n = buf.len().min(bytes.len() - start);
    buf[..n].copy_from_slice(&bytes[start..start + n]);
    n
}

impl ReadAt for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(<[u8]>::len(self) as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        Ok(read_slice(self, buf, offset))
    }
}

impl ReadAt for str {
    fn size(&self) -> io::Result<u64> {
        Ok(str::len(self) as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        Ok(read_slice(self.as_bytes(), buf, offset))
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> io::Result<u64> {
        Ok(self.as_slice().len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        Ok(read_slice(self, buf, offset))
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &'static T {
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        (**self).read_at(buf, offset)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for std::sync::Arc<T> {
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        (**self).read_at(buf, offset)
    }
}

/// How far to read past a range's end to finish its last line: a little at first (most lines
/// are short), twice as much each time after.
const TAIL_FIRST: usize = 512;
const TAIL_MAX: usize = 64 * 1024;

/// Reads `[offset, offset + n)` into `buf[*filled..]` (less at the end of input), and moves
/// `filled` past it. `buf` may hold bytes from an earlier range: they are overwritten, so only
/// growth is zeroed (not a megabyte per range).
fn read_into(
    source: &dyn ReadAt,
    buf: &mut Vec<u8>,
    filled: &mut usize,
    offset: u64,
    n: usize,
) -> io::Result<usize> {
    let start = *filled;
    if buf.len() < start + n {
        buf.resize(start + n, 0);
    }
    let mut got = 0;
    while got < n {
        match source.read_at(&mut buf[start + got..start + n], offset + got as u64) {
            Ok(0) => break,
            Ok(read) => got += read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    *filled = start + got;
    Ok(got)
}

/// How much to read at a time while looking for the first line of a range.
const PROBE: usize = 4 * 1024;

/// Reads the lines that range `index` owns, of a `len`-byte source cut every `size` bytes,
/// into `buf` (reused): complete lines, the last one with its newline unless it ends the
/// input. Empty if no line starts in the range.
pub(crate) fn read_range(
    source: &dyn ReadAt,
    len: u64,
    size: u64,
    index: u64,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let mut filled = 0;
    let result = read_lines(source, len, size, index, buf, &mut filled);
    buf.truncate(if result.is_ok() { filled } else { 0 });
    result
}

fn read_lines(
    source: &dyn ReadAt,
    len: u64,
    size: u64,
    index: u64,
    buf: &mut Vec<u8>,
    filled: &mut usize,
) -> io::Result<()> {
    let start = index.saturating_mul(size);
    if start >= len {
        return Ok(());
    }
    let end = start.saturating_add(size).min(len);
    let mut at = start;
    if start > 0 {
        // Skip the end of the line that began before this range: look for the first newline
        // at or after `start - 1` (a newline there means a line starts at `start`).
        let mut probe = start - 1;
        loop {
            if probe >= end {
                // The line that began before this range goes on past its end.
                *filled = 0;
                return Ok(());
            }
            let n = usize::try_from(end - probe).map_or(PROBE, |left| left.min(PROBE));
            *filled = 0;
            let got = read_into(source, buf, filled, probe, n)?;
            if let Some(i) = memchr::memchr(b'\n', &buf[..got]) {
                if probe + i as u64 + 1 >= end {
                    *filled = 0;
                    return Ok(());
                }
                // Keep the bytes after the newline: the range's first line starts there.
                buf.copy_within(i + 1..got, 0);
                *filled = got - (i + 1);
                at = probe + got as u64;
                break;
            }
            if got < n {
                // The input ended early (it shrank while we read).
                *filled = 0;
                return Ok(());
            }
            probe += n as u64;
        }
    }
    let mut next = at;
    if at < end {
        next += read_into(
            source,
            buf,
            filled,
            at,
            usize::try_from(end - at).unwrap_or(usize::MAX),
        )? as u64;
    }
    // Finish the last line: read on until a newline or the end of input.
    let mut step = TAIL_FIRST;
    while next >= end && next < len && buf[..*filled].last() != Some(&b'\n') {
        let scanned = *filled;
        step = usize::try_from(len - next).map_or(step, |left| left.min(step));
        let got = read_into(source, buf, filled, next, step)?;
        if got == 0 {
            break;
        }
        next += got as u64;
        if let Some(i) = memchr::memchr(b'\n', &buf[scanned..*filled]) {
            *filled = scanned + i + 1;
            break;
        }
        step = (step * 2).min(TAIL_MAX);
    }
    Ok(())
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

/// Splits `bytes` (complete lines) as `BufRead::lines` does: at `\n`, a `\r` before it
/// removed, a last line without a newline included.
pub(crate) fn next_line(bytes: &[u8], pos: &mut usize) -> Option<Range<usize>> {
    if *pos >= bytes.len() {
        return None;
    }
    let start = *pos;
    let (end, next) = match memchr_newline(&bytes[start..]) {
        Some(i) => (start + i, start + i + 1),
        None => (bytes.len(), bytes.len()),
    };
    *pos = next;
    let end = if end > start && bytes[end - 1] == b'\r' && next > end {
        end - 1
    } else {
        end
    };
    Some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut pos = 0;
        let mut out = Vec::new();
        while let Some(r) = next_line(bytes, &mut pos) {
            out.push(bytes[r].to_vec());
        }
        out
    }

    fn split_read(text: &'static [u8], size: u64) -> Vec<Vec<u8>> {
        let len = text.len() as u64;
        let mut all = Vec::new();
        let mut buf = Vec::new();
        let mut index = 0;
        while index * size < len.max(1) {
            read_range(&text, len, size, index, &mut buf).unwrap();
            all.extend(lines_of(&buf));
            index += 1;
        }
        all
    }

    fn std_lines(text: &[u8]) -> Vec<Vec<u8>> {
        use std::io::BufRead;
        text.lines().map(|l| l.unwrap().into_bytes()).collect()
    }

    #[test]
    fn every_split_size_reads_every_line_once() {
        let texts: [&'static [u8]; 8] = [
            b"",
            b"\n",
            b"a",
            b"a\nb\nc\n",
            b"a\nb\nc",
            b"ab\r\ncd\r\n\r\nlast\r",
            b"\n\n\nx\n\n",
            b"short\nthis line is longer than several splits\nend\n",
        ];
        for text in texts {
            for size in 1..12 {
                assert_eq!(
                    split_read(text, size),
                    std_lines(text),
                    "{text:?} size {size}"
                );
            }
        }
    }
}
