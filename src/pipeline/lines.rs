//! Sources of lines: a file (or any [`ReadAt`]) split into byte ranges that the workers of the
//! first stage read and parse on their own, and any `Read` read in blocks by one thread. Either
//! way the first stage's function borrows each line (`&str`) from the block being parsed: no
//! `String` per line, no line crossing a thread.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::Pipeline;
use super::chain::{Counts, Pull, Pulled, Refill};
use super::error::ErrorStore;
use super::group::{self, Group, Numbering, Tail};
use super::link::{self, Capacity, Next, Shared};
use super::marker::{Fallible, NoErrors};
use super::ordered::Inbox;
use super::outbox::Outbox;
use super::pulse::Beat;
use super::report::StageStats;
use super::runtime::{Plan, Runtime, SourceFlags, StageMeta};
use super::split::{self, ReadAt};
use super::stages::Fail;
use crate::context::Context;

/// Largest byte range a worker reads at once.
const MAX_SPLIT: u64 = 1024 << 10;
/// Smallest, however small the file (a few ranges per worker keep them all busy).
const MIN_SPLIT: u64 = 64 << 10;
/// Blocks the reading thread of [`Pipeline::from_reader`] may have in flight.
const READER_BLOCKS: usize = 2;

/// Where the bytes come from.
enum Feed {
    Path(PathBuf),
    ReadAt(Arc<dyn ReadAt>),
    Reader(Box<dyn Read + Send>),
}

/// The source of [`Pipeline::from_lines`], [`Pipeline::from_read_at`] and
/// [`Pipeline::from_reader`], waiting for its first stage: [`map`](Lines::map),
/// [`filter_map`](Lines::filter_map) or [`try_map`](Lines::try_map), whose function borrows
/// each line.
///
/// The function receives `io::Result<&str>`: `Err` once for each byte range that could not be
/// read (its lines are lost; the other ranges go on), and for each line that is not UTF-8, as
/// [`BufRead::lines`](std::io::BufRead::lines) would report it.
///
/// # Examples
///
/// ```
/// use homebound::{Context, pipeline::{ErrorPolicy, Pipeline}};
///
/// let ctx = Context::new();
/// let text: &'static str = "1\n2\nx\n4\n";
/// let (sum, outcome) = Pipeline::from_read_at(&ctx, text)
///     .named("read")
///     .try_map(2, |line| line.map_err(|e| e.to_string())?.parse::<u64>().map_err(|e| e.to_string()))
///     .named("parse")
///     .on_error(ErrorPolicy::Skip)
///     .collect()
///     .map(|(v, o)| (v.iter().sum::<u64>(), o))
///     .unwrap();
/// assert_eq!(sum, 7);
/// assert_eq!(outcome.report().stage("read").unwrap().items_out, 4);
/// assert_eq!(outcome.report().stage("parse").unwrap().errors, 1);
/// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
/// ```
#[must_use = "a Lines source does nothing until its first stage is added and the pipeline runs"]
pub struct Lines {
    ctx: Context,
    feed: Feed,
    name: Option<String>,
    split: Option<u64>,
}

impl fmt::Debug for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let feed = match &self.feed {
            Feed::Path(path) => format!("{}", path.display()),
            Feed::ReadAt(_) => "ReadAt".to_string(),
            Feed::Reader(_) => "Read".to_string(),
        };
        f.debug_struct("Lines")
            .field("feed", &feed)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Lines {
    pub(crate) fn file(ctx: &Context, path: &Path) -> Lines {
        Lines::new(ctx, Feed::Path(path.to_path_buf()))
    }

    pub(crate) fn read_at(ctx: &Context, source: Arc<dyn ReadAt>) -> Lines {
        Lines::new(ctx, Feed::ReadAt(source))
    }

    pub(crate) fn reader(ctx: &Context, reader: Box<dyn Read + Send>) -> Lines {
        Lines::new(ctx, Feed::Reader(reader))
    }

    fn new(ctx: &Context, feed: Feed) -> Lines {
        Lines {
            ctx: ctx.child(),
            feed,
            name: None,
            split: None,
        }
    }

    /// Names the source stage (in the report).
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let (_, outcome) = Pipeline::from_read_at(&Context::new(), b"a\nb\nc\n".to_vec())
    ///     .named("input")
    ///     .map(1, |line| line.map(str::len).unwrap_or(0))
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(outcome.report().stages()[0].name, "input");
    /// assert_eq!(outcome.report().items_delivered(), 3);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// The size of the byte ranges a worker reads at once (for a file or a [`ReadAt`]; the
    /// block size for a reader). By default a quarter of the input per worker, between 64 KiB
    /// and 1 MiB.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let text: String = (0..200).map(|i| format!("line {i}\n")).collect();
    /// let (lines, _) = Pipeline::from_read_at(&Context::new(), text.into_bytes())
    ///     .split_size(256) // many small ranges, shared by the 2 workers
    ///     .map(2, |line| line.unwrap().to_string())
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(lines.len(), 200);
    /// assert_eq!(lines[199], "line 199"); // in file order all the same
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn split_size(mut self, bytes: u64) -> Self {
        self.split = Some(bytes);
        self
    }

    /// The first stage: `f` maps every line, on `workers` threads.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let csv = b"id,name\n1,ada\n2,grace\n".to_vec();
    /// let (fields, _) = Pipeline::from_read_at(&Context::new(), csv)
    ///     .map(2, |line| line.map(|l| l.split(',').count()).unwrap_or(0)) // borrows each line
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(fields, [2, 2, 2]);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn map<U, F>(self, workers: usize, f: F) -> Pipeline<U, NoErrors>
    where
        U: Send + 'static,
        F: Fn(io::Result<&str>) -> U + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.first("map", workers, Arc::default(), move |_, _| {
            let f = Arc::clone(&f);
            move |line: io::Result<&str>, out: &mut Vec<U>, c: &mut Counts| {
                out.push(f(line));
                c.items_out += 1;
                true
            }
        })
    }

    /// The first stage: keeps the values `f` returns `Some` for, on `workers` threads. Lines
    /// for which it returns `None` count as filtered.
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::Pipeline};
    ///
    /// let log = std::io::Cursor::new("GET /a 200\nGET /b 500\nPOST /c 503\n");
    /// let (failed, outcome) = Pipeline::from_reader(&Context::new(), log)
    ///     .filter_map(2, |line| {
    ///         let line = line.ok()?;
    ///         (!line.ends_with(" 200")).then(|| line.to_string()) // keeps the failed requests
    ///     })
    ///     .ordered()
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(failed, ["GET /b 500", "POST /c 503"]);
    /// assert_eq!(outcome.report().stages()[1].filtered, 1);
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn filter_map<U, F>(self, workers: usize, f: F) -> Pipeline<U, NoErrors>
    where
        U: Send + 'static,
        F: Fn(io::Result<&str>) -> Option<U> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.first("filter_map", workers, Arc::default(), move |_, _| {
            let f = Arc::clone(&f);
            move |line: io::Result<&str>, out: &mut Vec<U>, c: &mut Counts| {
                match f(line) {
                    Some(value) => {
                        out.push(value);
                        c.items_out += 1;
                    }
                    None => c.filtered += 1,
                }
                true
            }
        })
    }

    /// The first stage: a fallible `f` on `workers` threads, with the error policy set by
    /// [`Pipeline::on_error`] after it (fail-fast by default), as for
    /// [`Pipeline::try_map`].
    ///
    /// # Examples
    ///
    /// ```
    /// use homebound::{Context, pipeline::{ErrorPolicy, Pipeline}};
    ///
    /// let (sizes, outcome) = Pipeline::from_read_at(&Context::new(), b"12\n7\nlots\n30\n".to_vec())
    ///     .try_map(2, |line| -> Result<u32, String> {
    ///         let line = line.map_err(|e| e.to_string())?;
    ///         line.parse().map_err(|_| format!("not a size: {line}"))
    ///     })
    ///     .named("parse")
    ///     .on_error(ErrorPolicy::Collect)
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(sizes.iter().sum::<u32>(), 49);
    /// assert_eq!(outcome.errors()[0].error, "not a size: lots");
    /// # homebound::threads::assert_none_alive(std::time::Duration::from_secs(5));
    /// ```
    pub fn try_map<U, E, F>(self, workers: usize, f: F) -> Pipeline<U, Fallible<E>>
    where
        U: Send + 'static,
        E: Send + 'static,
        F: Fn(io::Result<&str>) -> Result<U, E> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let store: Arc<ErrorStore<E>> = Arc::default();
        let stage_store = Arc::clone(&store);
        self.first("try_map", workers, store, move |rt, i| {
            let f = Arc::clone(&f);
            let fail = Fail::new(rt, i, Arc::clone(&stage_store));
            move |line: io::Result<&str>, out: &mut Vec<U>, c: &mut Counts| match f(line) {
                Ok(value) => {
                    out.push(value);
                    c.items_out += 1;
                    true
                }
                Err(error) => {
                    c.errors += 1;
                    fail.failed(error)
                }
            }
        })
    }

    /// Builds the pipeline: the source (stage 0) and the first stage (stage 1), whose workers
    /// each run `stage` (made per worker) on the lines of the ranges or blocks they take.
    fn first<U, S, K>(
        self,
        kind: &'static str,
        workers: usize,
        store: Arc<ErrorStore<S::Error>>,
        stage: impl Fn(&Runtime, usize) -> K + Send + 'static,
    ) -> Pipeline<U, S>
    where
        U: Send + 'static,
        S: super::marker::ErrorMode,
        K: FnMut(io::Result<&str>, &mut Vec<U>, &mut Counts) -> bool + Send + 'static,
    {
        let mut plan = Plan::default();
        // A split source runs in the first stage's workers; a reader has its own thread.
        let readers = match self.feed {
            Feed::Reader(_) => 1,
            Feed::Path(_) | Feed::ReadAt(_) => workers.max(1),
        };
        let mut source = StageMeta::new("lines", readers, 1);
        source.name = self.name;
        plan.stages.push(source);
        plan.stages.push(StageMeta::new(kind, workers, 1));
        if workers == 0 {
            plan.invalid(format!(
                "stage '{}': workers must be at least 1",
                plan.name(1)
            ));
        }
        let (feed, split) = (self.feed, self.split);
        Pipeline {
            ctx: self.ctx,
            plan,
            build: Box::new(move |rt| start(rt, feed, split, &stage)),
            store,
        }
    }
}

/// Starts the source: for a file or a `ReadAt`, the first stage's workers each get a chain
/// that claims ranges; for a reader, a reading thread feeds blocks to them.
fn start<U, K>(
    rt: &mut Runtime,
    feed: Feed,
    split: Option<u64>,
    stage: &dyn Fn(&Runtime, usize) -> K,
) -> Tail<U>
where
    U: Send + 'static,
    K: FnMut(io::Result<&str>, &mut Vec<U>, &mut Counts) -> bool + Send + 'static,
{
    let workers = rt.workers(1);
    let source = match feed {
        Feed::Reader(reader) => {
            let (inboxes, numbering) = reading_thread(rt, reader, split);
            let chains = inboxes
                .into_iter()
                .map(|inbox| root(rt, Bytes::Blocks(inbox), stage(rt, 1)))
                .collect();
            return Tail::Group(Group {
                first: 1,
                last: 1,
                chains,
                numbering,
            });
        }
        Feed::Path(path) => std::fs::File::open(&path)
            .map(|file| Arc::new(file) as Arc<dyn ReadAt>)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        Feed::ReadAt(source) => Ok(source),
    };
    let ranges = Arc::new(Ranges::new(source, split, workers, rt));
    let leader = rt.plan.name(1);
    rt.stats[0].fuse_into(1, leader);
    let chains = (0..workers)
        .map(|_| root(rt, Bytes::Ranges(Arc::clone(&ranges)), stage(rt, 1)))
        .collect();
    Tail::Group(Group {
        first: 1,
        last: 1,
        chains,
        numbering: Numbering::of(rt.ordered(), workers),
    })
}

fn root<U, K>(rt: &Runtime, bytes: Bytes, stage: K) -> Box<dyn Pull<U>>
where
    U: Send + 'static,
    K: FnMut(io::Result<&str>, &mut Vec<U>, &mut Counts) -> bool + Send + 'static,
{
    Box::new(LinesRoot {
        bytes,
        held: Held::Raw(Vec::new()),
        pos: 0,
        failed: None,
        stage,
        counts: Counts::default(),
        read: 0,
        source: Arc::clone(&rt.stats[0]),
        stats: Arc::clone(&rt.stats[1]),
        last: false,
    })
}

/// The ranges of a splittable source, handed out in order.
struct Ranges {
    /// The source, or why it could not be opened (reported once, as range 0).
    source: io::Result<Arc<dyn ReadAt>>,
    len: io::Result<u64>,
    size: u64,
    next: AtomicU64,
    /// The graceful stop: no range is handed out once it is cancelled.
    stop: Option<Context>,
    flags: Arc<SourceFlags>,
}

impl Ranges {
    fn new(
        source: io::Result<Arc<dyn ReadAt>>,
        split: Option<u64>,
        workers: usize,
        rt: &Runtime,
    ) -> Ranges {
        let len = match &source {
            Ok(source) => source.size(),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        };
        let size = split.unwrap_or_else(|| {
            let len = len.as_ref().map_or(0, |&n| n);
            (len / (4 * workers.max(1) as u64)).clamp(MIN_SPLIT, MAX_SPLIT)
        });
        Ranges {
            source,
            len,
            size: size.max(1),
            next: AtomicU64::new(0),
            stop: rt.plan.stop.clone(),
            flags: Arc::clone(&rt.source),
        }
    }

    /// The next range to read: its number, or `None` when all are taken (or the intake was
    /// stopped).
    fn claim(&self) -> Option<u64> {
        if self.stop.as_ref().is_some_and(Context::is_cancelled) {
            self.flags.intake_stopped.store(true, Ordering::Release);
            self.flags.complete.store(true, Ordering::Release);
            return None;
        }
        let count = match &self.len {
            Ok(len) => len.div_ceil(self.size),
            // Range 0 carries the error.
            Err(_) => 1,
        };
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        if index >= count {
            // Every range is taken (the workers still finish theirs).
            self.flags.complete.store(true, Ordering::Release);
            return None;
        }
        Some(index)
    }

    /// Reads the lines of range `index` into `buf`.
    fn read(&self, index: u64, buf: &mut Vec<u8>) -> io::Result<()> {
        let source = self.source.as_ref().map_err(copy_error)?;
        let len = *self.len.as_ref().map_err(copy_error)?;
        split::read_range(&**source, len, self.size, index, buf)
    }
}

fn copy_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

/// A block of complete lines read by the reading thread, or the error that ended its input.
enum Block {
    Bytes(Vec<u8>),
    Failed(io::Error),
}

/// Where a root gets its bytes.
enum Bytes {
    Ranges(Arc<Ranges>),
    Blocks(Inbox<Block>),
}

/// The lines of the range or block being parsed.
enum Held {
    /// UTF-8, checked once as a whole (the usual case): lines are sliced without checks.
    Text(String),
    /// Not UTF-8 somewhere: each line is checked on its own, and the bad ones reported.
    Raw(Vec<u8>),
}

impl Held {
    fn new(bytes: Vec<u8>) -> Held {
        match String::from_utf8(bytes) {
            Ok(text) => Held::Text(text),
            Err(e) => Held::Raw(e.into_bytes()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Held::Text(text) => text.len(),
            Held::Raw(bytes) => bytes.len(),
        }
    }

    /// The buffer back, for the next range to overwrite (its bytes stay: zeroing a megabyte
    /// per range would cost as much as splitting its lines).
    fn reuse(&mut self) -> Vec<u8> {
        match std::mem::replace(self, Held::Raw(Vec::new())) {
            Held::Text(text) => text.into_bytes(),
            Held::Raw(bytes) => bytes,
        }
    }
}

/// The bottom of a chain whose source is lines: holds one range or block, and runs the first
/// stage's function on its lines.
struct LinesRoot<K> {
    bytes: Bytes,
    held: Held,
    /// How far the held lines have been parsed.
    pos: usize,
    /// The error of a range that could not be read, reported once.
    failed: Option<io::Error>,
    stage: K,
    counts: Counts,
    /// Lines read, for the source stage's counts.
    read: u64,
    source: Arc<StageStats>,
    stats: Arc<StageStats>,
    last: bool,
}

impl<K> LinesRoot<K> {
    fn take(&mut self, got: io::Result<Vec<u8>>) {
        self.pos = 0;
        match got {
            Ok(bytes) => self.held = Held::new(bytes),
            Err(e) => {
                // Nothing of the previous range or block may be parsed again.
                let mut bytes = self.held.reuse();
                bytes.clear();
                self.held = Held::Raw(bytes);
                self.failed = Some(e);
            }
        }
    }
}

impl<U, K> Pull<U> for LinesRoot<K>
where
    U: Send,
    K: FnMut(io::Result<&str>, &mut Vec<U>, &mut Counts) -> bool + Send,
{
    fn pull(&mut self, out: &mut Vec<U>, want: usize, beat: &Beat) -> Pulled {
        if let Some(e) = self.failed.take() {
            self.counts.items_in += 1;
            if !(self.stage)(Err(e), out, &mut self.counts) {
                return Pulled::Stopped;
            }
            return Pulled::More;
        }
        let end = self.held.len();
        if self.pos >= end {
            return Pulled::Drained;
        }
        let until = out.len() + want;
        let stage = &mut self.stage;
        let counts = &mut self.counts;
        let (mut read, mut stopped) = (0u64, false);
        match &self.held {
            Held::Text(text) => {
                let bytes = text.as_bytes();
                while self.pos < end && out.len() < until {
                    let start = self.pos;
                    let stop = memchr::memchr(b'\n', &bytes[start..]).map_or(end, |i| start + i);
                    self.pos = stop + 1;
                    // `\r\n` ends a line as `\n` does (not a lone `\r` at the very end).
                    let line_end = if stop < end && stop > start && bytes[stop - 1] == b'\r' {
                        stop - 1
                    } else {
                        stop
                    };
                    read += 1;
                    if !stage(Ok(&text[start..line_end]), out, counts) {
                        stopped = true;
                        break;
                    }
                    if beat.moved() {
                        break;
                    }
                }
            }
            Held::Raw(bytes) => {
                while out.len() < until {
                    let Some(line) = split::next_line(bytes, &mut self.pos) else {
                        break;
                    };
                    read += 1;
                    let line = std::str::from_utf8(&bytes[line])
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
                    if !stage(line, out, counts) {
                        stopped = true;
                        break;
                    }
                    if beat.moved() {
                        break;
                    }
                }
            }
        }
        self.read += read;
        if stopped {
            Pulled::Stopped
        } else if beat.moved() {
            Pulled::Beat
        } else {
            Pulled::More
        }
    }

    fn refill(&mut self, ctx: &Context, wait: bool) -> Refill {
        if ctx.is_cancelled() {
            return Refill::Stopped;
        }
        match &mut self.bytes {
            Bytes::Ranges(ranges) => {
                let ranges = Arc::clone(ranges);
                let Some(index) = ranges.claim() else {
                    return Refill::End;
                };
                let mut buf = self.held.reuse();
                let reading = Instant::now();
                let got = ranges.read(index, &mut buf).map(|()| buf);
                // The source's time: reading (it runs in this stage's workers).
                self.source.add_own_busy(reading.elapsed());
                self.take(got);
                Refill::Got {
                    seq: index,
                    items: 0,
                }
            }
            Bytes::Blocks(inbox) => match inbox.next(ctx, &self.stats, None, wait) {
                Next::Chunk(mut chunk) => {
                    let seq = chunk.seq;
                    match chunk.items.pop() {
                        Some(Block::Bytes(bytes)) => self.take(Ok(bytes)),
                        Some(Block::Failed(e)) => self.take(Err(e)),
                        None => self.take(Ok(Vec::new())),
                    }
                    Refill::Got { seq, items: 0 }
                }
                Next::Empty => Refill::Empty,
                Next::End | Next::Timeout => Refill::End,
                Next::Stopped => Refill::Stopped,
            },
        }
    }

    fn settle(&mut self, _stopped: bool) {
        // Lines not parsed yet were never read as lines: nothing to count as dropped.
        let read = std::mem::take(&mut self.read);
        self.source.add_in_u64(read);
        self.source.add_out_u64(read);
        self.counts.items_in += read;
        self.counts.settle(&self.stats, !self.last);
    }

    fn set_last(&mut self) {
        self.last = true;
    }

    fn input(&self) -> Option<Arc<Shared>> {
        None
    }
}

/// Starts the thread that reads `reader` in blocks of whole lines, and returns the inboxes
/// of the first stage's workers.
fn reading_thread(
    rt: &mut Runtime,
    reader: Box<dyn Read + Send>,
    block: Option<u64>,
) -> (Vec<Inbox<Block>>, Numbering) {
    let block = usize::try_from(block.unwrap_or(MAX_SPLIT).max(1)).unwrap_or(usize::MAX);
    let capacity = Capacity {
        slots: READER_BLOCKS,
        chunk: 1,
    };
    let (order, mode) = super::source::order_and_mode(rt);
    let (sending, link) = link::link(capacity, order);
    // The outbox counts blocks; the source stage counts lines (its workers do).
    let blocks = Arc::new(StageStats::new("blocks".to_string(), 1));
    let mut out = Outbox::new(
        &sending,
        Arc::clone(&link.shared),
        rt.ctx.clone(),
        Arc::clone(&blocks),
        mode,
        1,
    );
    let stats = Arc::clone(&rt.stats[0]);
    let (stop, flags) = (rt.plan.stop.clone(), Arc::clone(&rt.source));
    let ctx = rt.ctx.clone();
    rt.spawn(0, move || {
        let mut reader = reader;
        let mut carry: Vec<u8> = Vec::new();
        let mut failed = None;
        let outcome = loop {
            if ctx.is_cancelled() {
                break None;
            }
            if stop.as_ref().is_some_and(Context::is_cancelled) {
                break Some(true);
            }
            match read_block(&mut *reader, &mut carry, &mut failed, block) {
                Ok(Some(bytes)) => {
                    if out.push(Block::Bytes(bytes)).is_err() {
                        break None;
                    }
                }
                Ok(None) => break Some(false),
                Err(e) => {
                    let _ = out.push(Block::Failed(e));
                    break Some(false);
                }
            }
        };
        if let Some(intake_stopped) = outcome {
            super::source::complete(&mut out, &flags, intake_stopped);
        }
        stats.add_send_wait(out.blocked());
    });
    group::inboxes(rt, 1, &link, false)
}

/// Reads the next block of complete lines (at least `size` bytes unless the input ends),
/// keeping the start of an unfinished last line in `carry`. `None` at the end of input. On a
/// read error, the complete lines read before it come first; the error, on the next call.
fn read_block(
    reader: &mut dyn Read,
    carry: &mut Vec<u8>,
    failed: &mut Option<io::Error>,
    size: usize,
) -> io::Result<Option<Vec<u8>>> {
    if let Some(e) = failed.take() {
        carry.clear();
        return Err(e);
    }
    let mut buf = std::mem::take(carry);
    let mut scanned = 0;
    loop {
        if buf.len() >= size {
            if let Some(i) = memchr::memrchr(b'\n', &buf[scanned..]) {
                let cut = scanned + i + 1;
                *carry = buf.split_off(cut);
                return Ok(Some(buf));
            }
            scanned = buf.len();
        }
        // `read_to_end` fills spare capacity without zeroing it first (and keeps what it read
        // before an error).
        let want = size.max(4096) as u64;
        let n = match Read::take(&mut *reader, want).read_to_end(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                // Hand on the complete lines first; the unfinished one is lost.
                return match memchr::memrchr(b'\n', &buf) {
                    Some(i) => {
                        buf.truncate(i + 1);
                        *failed = Some(e);
                        Ok(Some(buf))
                    }
                    None => Err(e),
                };
            }
        };
        if n == 0 {
            return Ok((!buf.is_empty()).then_some(buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_end_at_line_ends() {
        let text = b"one\ntwo\nthree\nfour";
        let mut reader = &text[..];
        let mut carry = Vec::new();
        let mut blocks = Vec::new();
        while let Some(block) = read_block(&mut reader, &mut carry, &mut None, 5).unwrap() {
            blocks.push(String::from_utf8(block).unwrap());
        }
        assert_eq!(blocks.concat(), "one\ntwo\nthree\nfour");
        assert!(blocks[..blocks.len() - 1].iter().all(|b| b.ends_with('\n')));
    }
}
