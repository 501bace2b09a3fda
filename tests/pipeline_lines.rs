//! The line sources against a sequential `BufRead::lines()` over the same bytes: the split
//! source (`from_lines`, `from_read_at`) and the reader source (`from_reader`) deliver the same
//! lines (in the same order when ordered), for files with and without a trailing newline, with
//! CRLF, empty lines, a line longer than a split, a line that is not UTF-8, an empty file, a
//! missing file, and a read error in the middle (reported once, for its range only).

use std::io::{self, BufRead};
use std::sync::Arc;
use std::time::Duration;

use homebound::pipeline::{ErrorKind, ErrorPolicy, Pipeline, ReadAt};
use homebound::{Context, threads};

fn no_leaks() {
    threads::assert_none_alive(Duration::from_secs(10));
}

/// What a line source delivers, comparable with `BufRead::lines`: the line, or the kind of
/// error.
type Line = Result<String, io::ErrorKind>;

fn sequential(bytes: &[u8]) -> Vec<Line> {
    bytes.lines().map(|l| l.map_err(|e| e.kind())).collect()
}

/// Compares two line lists, reporting the first difference (not thousands of lines).
#[track_caller]
fn assert_lines(got: &[Line], expected: &[Line], what: &str) {
    if got == expected {
        return;
    }
    let at = got
        .iter()
        .zip(expected)
        .position(|(g, e)| g != e)
        .unwrap_or(got.len().min(expected.len()));
    panic!(
        "{what}: {} lines, expected {}; first difference at {at}: got {:?}, expected {:?}",
        got.len(),
        expected.len(),
        got.get(at),
        expected.get(at)
    );
}

fn own(line: io::Result<&str>) -> Line {
    line.map(str::to_string).map_err(|e| e.kind())
}

/// A deterministic file of lines: lengths 0..120, some CRLF, optionally a trailing newline,
/// a line much longer than the splits, and a line that is not UTF-8.
fn file(seed: u64, lines: usize, trailing: bool, long: bool, bad_utf8: bool) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = Vec::new();
    for i in 0..lines {
        let r = next();
        let len = (r % 120) as usize;
        if long && i == lines / 3 {
            out.extend(std::iter::repeat_n(b'L', 5_000));
        } else if bad_utf8 && i == lines / 2 {
            out.extend_from_slice(b"bad \xff\xfe bytes");
        } else {
            out.extend((0..len).map(|j| b'a' + ((r >> (j % 50)) % 26) as u8));
        }
        if i + 1 < lines || trailing {
            if r & (1 << 40) != 0 {
                out.extend_from_slice(b"\r\n");
            } else {
                out.push(b'\n');
            }
        }
    }
    out
}

/// Runs the split source over `bytes` and returns its lines (in order if `ordered`).
fn split(bytes: Vec<u8>, workers: usize, split: Option<u64>, ordered: bool) -> Vec<Line> {
    let ctx = Context::new();
    let mut lines = Pipeline::from_read_at(&ctx, bytes).named("read");
    if let Some(size) = split {
        lines = lines.split_size(size);
    }
    let mut p = lines.map(workers, own);
    if ordered {
        p = p.ordered();
    }
    let (out, outcome) = p.collect().unwrap();
    let report = outcome.report();
    let read = report.stage("read").unwrap();
    assert_eq!(read.items_out, out.len() as u64, "{report}");
    out
}

fn sorted(mut lines: Vec<Line>) -> Vec<Line> {
    lines.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    lines
}

#[test]
fn split_source_matches_a_sequential_read() {
    let cases = [
        file(1, 300, true, false, false),
        file(2, 300, false, false, false),
        file(3, 200, true, true, false),
        file(4, 200, false, true, true),
        b"only\r\n".to_vec(),
        b"\n\n\n".to_vec(),
        b"no newline at all".to_vec(),
        b"last line ends with a lone cr\r".to_vec(),
        Vec::new(),
    ];
    for bytes in cases {
        let expected = sequential(&bytes);
        for workers in [1, 3] {
            for size in [Some(1), Some(7), Some(100), Some(4096), None] {
                let got = split(bytes.clone(), workers, size, true);
                let what = format!("ordered, {workers} workers, split {size:?}");
                assert_lines(&got, &expected, &what);
                let got = split(bytes.clone(), workers, size, false);
                let what = format!("unordered, {workers} workers, split {size:?}");
                assert_lines(&sorted(got), &sorted(expected.clone()), &what);
            }
        }
    }
    no_leaks();
}

#[test]
fn from_lines_reads_a_file_and_reports_a_missing_one() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("homebound-lines-{}.txt", std::process::id()));
    let bytes = file(7, 5_000, true, true, false);
    std::fs::write(&path, &bytes).unwrap();
    let ctx = Context::new();
    let (out, _) = Pipeline::from_lines(&ctx, &path)
        .split_size(1_000)
        .map(2, own)
        .ordered()
        .collect()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_lines(&out, &sequential(&bytes), "from_lines");

    // A file that cannot be opened: the first stage gets the error once; fail-fast stops.
    let err = Pipeline::from_lines(&ctx, dir.join("homebound-no-such-file"))
        .try_map(2, |line| line.map(str::len))
        .for_each(|_| {})
        .unwrap_err();
    match err.into_kind() {
        ErrorKind::Failed(e) => assert_eq!(e.error.kind(), io::ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
    no_leaks();
}

/// A source whose bytes around `poison` cannot be read (a bad sector).
struct Faulty {
    bytes: Vec<u8>,
    poison: u64,
}

impl ReadAt for Faulty {
    fn size(&self) -> io::Result<u64> {
        Ok(self.bytes.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let end = offset + buf.len() as u64;
        if (offset..end).contains(&self.poison) {
            return Err(io::Error::other("bad sector"));
        }
        self.bytes.read_at(buf, offset)
    }
}

#[test]
fn a_read_error_loses_one_range_and_is_reported_once() {
    // Short lines, 4 KiB ranges, a bad byte in the middle of range 3.
    let size = 4_096u64;
    let bytes: Vec<u8> = (0..2_000)
        .flat_map(|i| format!("line {i:05}\n").into_bytes())
        .collect();
    let poison = 3 * size + size / 2;
    let range_of = |line_start: u64| line_start / size;
    // The lines whose first byte lies in range 3 are lost; the error takes their place.
    let mut expected: Vec<Line> = Vec::new();
    let mut start = 0u64;
    let mut reported = false;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if range_of(start) == 3 {
            if !reported {
                expected.push(Err(io::ErrorKind::Other));
                reported = true;
            }
        } else {
            expected.push(Ok(
                String::from_utf8(line[..line.len() - 1].to_vec()).unwrap()
            ));
        }
        start += line.len() as u64;
    }
    for workers in [1, 3] {
        let ctx = Context::new();
        let (out, outcome) = Pipeline::from_read_at(
            &ctx,
            Faulty {
                bytes: bytes.clone(),
                poison,
            },
        )
        .split_size(size)
        .try_map(workers, |line| line.map(str::to_string))
        .named("parse")
        .on_error(ErrorPolicy::Collect)
        .ordered()
        .collect()
        .unwrap();
        let errors = outcome.errors();
        assert_eq!(errors.len(), 1, "one error, for the one bad range");
        let ok: Vec<Line> = expected.iter().filter(|l| l.is_ok()).cloned().collect();
        let out: Vec<Line> = out.into_iter().map(Ok).collect();
        assert_lines(&out, &ok, "try_map over a bad range");
        assert_eq!(outcome.report().stage("parse").unwrap().errors, 1);
    }
    // The map form sees the error in its place, in order.
    let ctx = Context::new();
    let (out, _) = Pipeline::from_read_at(&ctx, Faulty { bytes, poison })
        .split_size(size)
        .map(3, own)
        .ordered()
        .collect()
        .unwrap();
    assert_lines(&out, &expected, "map over a bad range");
    no_leaks();
}

/// Gives its bytes a few at a time, then fails once at `fail_at`, then ends.
struct Flaky {
    bytes: Vec<u8>,
    at: usize,
    fail_at: Option<usize>,
}

impl io::Read for Flaky {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Some(self.at) == self.fail_at {
            self.fail_at = None;
            self.at = self.bytes.len();
            return Err(io::Error::other("connection reset"));
        }
        let stop = self
            .fail_at
            .unwrap_or(self.bytes.len())
            .min(self.at + 1_000);
        let n = buf.len().min(stop - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn reader_source_matches_a_sequential_read_up_to_its_error() {
    for (trailing, long) in [(true, false), (false, true)] {
        let bytes = file(11, 3_000, trailing, long, false);
        for workers in [1, 3] {
            let ctx = Context::new();
            let reader = Flaky {
                bytes: bytes.clone(),
                at: 0,
                fail_at: None,
            };
            let (out, _) = Pipeline::from_reader(&ctx, reader)
                .split_size(2_000)
                .map(workers, own)
                .ordered()
                .collect()
                .unwrap();
            assert_lines(&out, &sequential(&bytes), &format!("{workers} workers"));
        }
    }
    // A read error in the middle: the complete lines before it, then the error, then the end.
    let bytes = file(12, 3_000, true, false, false);
    let fail_at = bytes.len() / 2;
    let before = &bytes[..fail_at];
    let complete = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let mut expected = sequential(&before[..complete]);
    expected.push(Err(io::ErrorKind::Other));
    let ctx = Context::new();
    let reader = Flaky {
        bytes,
        at: 0,
        fail_at: Some(fail_at),
    };
    let (out, _) = Pipeline::from_reader(&ctx, reader)
        .split_size(3_000)
        .map(2, own)
        .ordered()
        .collect()
        .unwrap();
    assert_lines(&out, &expected, "a read error in the middle");
    no_leaks();
}

#[test]
fn the_first_stage_borrows_lines_and_fuses_with_the_next() {
    let ctx = Context::new();
    let text: &'static str = "a 1\nb 2\nc 3\nd x\n";
    let (out, outcome) = Pipeline::from_read_at(&ctx, text)
        .named("read")
        .filter_map(2, |line| {
            line.ok()?.split_once(' ').map(|(_, n)| n.to_string())
        })
        .named("fields")
        .try_map(2, |n| n.parse::<u32>())
        .named("numbers")
        .on_error(ErrorPolicy::Skip)
        .ordered()
        .collect()
        .unwrap();
    assert_eq!(out, [1, 2, 3]);
    let report = outcome.report();
    let read = report.stage("read").unwrap();
    let fields = report.stage("fields").unwrap();
    let numbers = report.stage("numbers").unwrap();
    assert_eq!(read.fused_into.as_deref(), Some("fields"), "{report}");
    assert_eq!(numbers.fused_into.as_deref(), Some("fields"), "{report}");
    assert_eq!(
        (read.items_out, fields.items_in, fields.items_out),
        (4, 4, 4)
    );
    assert_eq!(
        (numbers.items_in, numbers.items_out, numbers.errors),
        (4, 3, 1)
    );
    // One thread pool: the two workers of "fields" (no thread for the source).
    assert_eq!(read.workers, 2);
    let _ = Arc::new(());
    no_leaks();
}
