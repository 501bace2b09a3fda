//! A crawler over real HTTP (the Go handbook's "分布式爬虫": 1000 sites, 20 workers, "20x faster
//! than sequential"). A local site of 1000 linked pages, each answered after a few
//! milliseconds, is served on 127.0.0.1 by the examples' HTTP server; a synchronous client
//! (`ureq`) crawls it from `/page/0` twice in the same run: one page at a time, then through a
//! homebound `Group` limited to 20 workers. Each crawl keeps a visited set so every page is
//! fetched exactly once, gives every request a timeout derived from its task's context, keeps
//! each page's error (missing pages, pages slower than the timeout), and stops on Ctrl-C or
//! at its time budget, reporting what it fetched so far.
//!
//! ```sh
//! cargo run --release --all-features --example crawler
//! cargo run --release --all-features --example crawler -- --pages 1000 --latency-ms 8 --workers 20 --budget-ms 2000
//! HOMEBOUND_QUICK=1 cargo run --release --all-features --example crawler
//! ```
//!
//! At the end it prints the speed-up of the concurrent crawl over the sequential one, and
//! checks against the site's own request counts that each crawl requested every reachable
//! page exactly once.

#[path = "support/http/mod.rs"]
mod http;
#[path = "support/site.rs"]
mod site;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use homebound::group::{self, Group, Scope};
use homebound::pool::Pool;
use homebound::shutdown::Shutdown;
use homebound::{Context, threads};
use parking_lot::Mutex;

use self::http::Stats;
use self::site::{Site, links_in};

/// The crawl starts here; every page is reachable from it.
const ROOT: &str = "/page/0";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = Options::parse()?;
    // The slow pages take longer than the per-request timeout, which cuts them short.
    let site = Site::new(opts.pages, opts.latency, opts.timeout * 5 / 2);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    // Each keep-alive connection holds a site worker while it lives.
    let pool = Arc::new(
        Pool::builder()
            .name("site")
            .workers(opts.workers + 4)
            .max_workers(256)
            .build()?,
    );

    let mut shutdown = Shutdown::new().grace(Duration::from_secs(3));
    shutdown.on_signals()?;
    let (serving, handler) = (Arc::clone(&pool), site.handler());
    shutdown.service("site", move |ctx| {
        http::serve(
            &ctx,
            listener,
            &serving,
            handler,
            Arc::new(Stats::default()),
        )
    })?;
    shutdown.drain("site connections", Arc::clone(&pool));

    println!(
        "site: {} pages on {base}, {:?} mean latency per page; {} page(s) take {:?}, \
         past the {:?} per-request timeout; budget {:?} per crawl; Ctrl-C stops",
        opts.pages,
        opts.latency,
        site.slow_pages(),
        site.slow,
        opts.timeout,
        opts.budget
    );
    let results = Arc::new(Mutex::new(Vec::new()));
    let (out, trigger) = (Arc::clone(&results), shutdown.trigger());
    shutdown.service("crawler", move |ctx| {
        let sequential = crawl_sequential(&ctx.with_timeout(opts.budget), &base, opts.timeout);
        out.lock().push(sequential);
        let concurrent = crawl_concurrent(
            &ctx.with_timeout(opts.budget),
            &base,
            opts.workers,
            opts.timeout,
        );
        out.lock().push(concurrent);
        trigger.fire(); // done: stop the site
        Ok::<(), String>(())
    })?;

    let report = shutdown.wait();
    if report.forced().is_some() || report.stragglers().next().is_some() {
        // A second signal, or a part that overran the grace: exit now, as the report says.
        println!("{report}");
        std::process::exit(report.exit_code());
    }
    let results = std::mem::take(&mut *results.lock());
    let reachable = site.reachable();
    let mut ok = true;
    // The site has stopped: every request it read, even one whose client had given up, is
    // in its counts.
    for crawl in &results {
        println!("{crawl}");
        println!("  errors kept per page: {}", crawl.errors(3));
        ok &= crawl.check(&reachable, &site.hits_of(&crawl.tag));
    }
    match &results[..] {
        [sequential, concurrent]
            if sequential.cancelled.is_none() && concurrent.cancelled.is_none() =>
        {
            println!(
                "speed-up: {:.1}x with {} workers (sequential {:.2?}, concurrent {:.2?})",
                sequential.elapsed.as_secs_f64() / concurrent.elapsed.as_secs_f64(),
                opts.workers,
                sequential.elapsed,
                concurrent.elapsed
            );
        }
        _ => println!("no speed-up figure: a crawl was stopped early"),
    }
    println!("{report}");
    drop(pool);
    threads::assert_none_alive(Duration::from_secs(5));
    std::process::exit(if ok { report.exit_code() } else { 1 });
}

/// Crawls one page at a time, breadth first: the baseline.
fn crawl_sequential(ctx: &Context, base: &str, timeout: Duration) -> CrawlReport {
    let crawl = Crawl::new("sequential", "sequential", base, 1, timeout);
    let started = Instant::now();
    let mut queue = VecDeque::from([ROOT.to_string()]);
    crawl.first_visit(ROOT);
    while let Some(path) = queue.pop_front() {
        if ctx.is_cancelled() {
            break;
        }
        queue.extend(crawl.visit(ctx, &path));
    }
    crawl.finish(started.elapsed(), ctx.cause())
}

/// Crawls through a group of `workers` threads: each page is a task that queues the pages it
/// links to and sees for the first time. `run` returns once every task has ended.
fn crawl_concurrent(ctx: &Context, base: &str, workers: usize, timeout: Duration) -> CrawlReport {
    let name = format!("concurrent ({workers} workers)");
    let crawl = Crawl::new("concurrent", &name, base, workers, timeout);
    let started = Instant::now();
    let group = Group::builder()
        .limit(workers)
        .name("crawl")
        .build()
        .expect("a valid group");
    crawl.first_visit(ROOT);
    let result = group.run(ctx, |g| spawn_visit(g, &crawl, ROOT.to_string()));
    if let Err(group::Error::Panicked { panic, .. }) = result {
        panic.resume();
    }
    // Any other error is a task the cancel kept from starting: counted as not fetched.
    crawl.finish(started.elapsed(), ctx.cause())
}

fn spawn_visit<'scope, 'env>(
    g: &Scope<'scope, 'env, Infallible>,
    crawl: &'env Crawl,
    path: String,
) {
    let spawner = g.clone();
    g.execute(move |ctx| {
        for link in crawl.visit(ctx, &path) {
            spawn_visit(&spawner, crawl, link);
        }
        Ok(())
    });
}

/// One fetch, bounded by its own timeout and by the crawl's budget (the task's context carries
/// both: the request's deadline is the earlier of the two).
fn fetch(
    agent: &ureq::Agent,
    ctx: &Context,
    url: &str,
    timeout: Duration,
) -> Result<String, String> {
    let request = ctx.with_timeout(timeout);
    request.check().map_err(|c| c.to_string())?;
    let timeout = request.remaining().unwrap_or(timeout);
    let mut response = agent
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    match status {
        200 => Ok(body),
        _ => Err(format!("HTTP {status}")),
    }
}

/// A crawl in progress: the visited set and every fetch's outcome.
struct Crawl {
    /// Sent with every request (`?crawl=<tag>`) so the site counts each crawl apart.
    tag: String,
    name: String,
    base: String,
    agent: ureq::Agent,
    /// Each request's own timeout (never beyond the crawl's budget).
    timeout: Duration,
    /// Paths seen so far: a path is fetched only by whoever inserts it first.
    seen: Mutex<HashSet<String>>,
    /// Each fetched path and how its fetch ended.
    fetched: Mutex<Vec<(String, Result<(), String>)>>,
}

impl Crawl {
    fn new(tag: &str, name: &str, base: &str, workers: usize, timeout: Duration) -> Crawl {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(workers)
            .max_idle_connections_per_host(workers)
            .build()
            .into();
        Crawl {
            tag: tag.to_string(),
            name: name.to_string(),
            base: base.to_string(),
            agent,
            timeout,
            seen: Mutex::new(HashSet::new()),
            fetched: Mutex::new(Vec::new()),
        }
    }

    fn first_visit(&self, path: &str) -> bool {
        self.seen.lock().insert(path.to_string())
    }

    /// Fetches `path`, records how it went, and returns the links seen here first.
    fn visit(&self, ctx: &Context, path: &str) -> Vec<String> {
        let url = format!("{}{path}?crawl={}", self.base, self.tag);
        let result = fetch(&self.agent, ctx, &url, self.timeout);
        let links = match &result {
            Ok(html) => links_in(html)
                .filter(|link| self.first_visit(link))
                .map(str::to_string)
                .collect(),
            Err(_) => Vec::new(),
        };
        self.fetched
            .lock()
            .push((path.to_string(), result.map(drop)));
        links
    }

    fn finish(self, elapsed: Duration, cancelled: Option<homebound::Cause>) -> CrawlReport {
        CrawlReport {
            tag: self.tag,
            name: self.name,
            elapsed,
            seen: self.seen.into_inner().len(),
            fetched: self.fetched.into_inner(),
            cancelled,
        }
    }
}

/// How a crawl ended.
struct CrawlReport {
    tag: String,
    name: String,
    elapsed: Duration,
    seen: usize,
    fetched: Vec<(String, Result<(), String>)>,
    /// Why it stopped early (Ctrl-C, its budget), if it did.
    cancelled: Option<homebound::Cause>,
}

impl CrawlReport {
    /// Every fetch went to a distinct path; a complete crawl fetched every reachable path; the
    /// site saw each requested path exactly once.
    /// Every fetch went to a distinct path; a complete crawl fetched every reachable path; the
    /// site (counted after it stopped, so late reads are in) saw each path fetched with success
    /// exactly once, each failed one at most once (a request that timed out before it was sent
    /// never reached it), and nothing else.
    fn check(&self, reachable: &BTreeSet<String>, hits: &HashMap<String, u32>) -> bool {
        let fetched: BTreeMap<&String, bool> =
            self.fetched.iter().map(|(p, r)| (p, r.is_ok())).collect();
        let distinct = fetched.len() == self.fetched.len();
        let seen = |p: &String| hits.get(p).copied().unwrap_or(0);
        let odd: Vec<String> = fetched
            .iter()
            .filter(|&(p, &ok)| if ok { seen(p) != 1 } else { seen(p) > 1 })
            .map(|(p, _)| format!("{p} requested {} times", seen(p)))
            .chain(
                hits.keys()
                    .filter(|p| !fetched.contains_key(p))
                    .map(|p| format!("{p} requested but not fetched")),
            )
            .collect();
        let once = odd.is_empty();
        let unseen = fetched.keys().filter(|p| seen(p) == 0).count();
        let complete = self.cancelled.is_some() || fetched.len() == reachable.len();
        let ok = distinct && once && complete;
        println!(
            "  check {}: {} fetches of {} distinct paths; by the site's counts each path once: \
             {once} ({unseen} failed requests never reached it){}",
            if ok { "ok" } else { "FAILED" },
            self.fetched.len(),
            fetched.len(),
            if self.cancelled.is_some() {
                String::new()
            } else {
                format!(
                    "; all {} reachable paths fetched: {complete}",
                    reachable.len()
                )
            }
        );
        if !once {
            println!(
                "  the site's counts differ: {}",
                odd[..odd.len().min(5)].join(", ")
            );
        }
        ok
    }

    /// The first `n` errors, and how many of each kind.
    fn errors(&self, n: usize) -> String {
        let errors: Vec<_> = self
            .fetched
            .iter()
            .filter_map(|(p, r)| r.as_ref().err().map(|e| (p, e)))
            .collect();
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, e) in &errors {
            *kinds.entry(e.as_str()).or_default() += 1;
        }
        let examples: Vec<String> = errors
            .iter()
            .take(n)
            .map(|(p, e)| format!("{p}: {e}"))
            .collect();
        format!("{kinds:?}; e.g. {}", examples.join(", "))
    }
}

impl std::fmt::Display for CrawlReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failed = self.fetched.iter().filter(|(_, r)| r.is_err()).count();
        write!(
            f,
            "{} crawl: {} pages fetched in {:.2?} ({} ok, {failed} with an error kept)",
            self.name,
            self.fetched.len(),
            self.elapsed,
            self.fetched.len() - failed,
        )?;
        if let Some(cause) = &self.cancelled {
            write!(
                f,
                "; stopped early ({cause}): {} more pages seen but not fetched",
                self.seen - self.fetched.len()
            )?;
        }
        Ok(())
    }
}

/// Command-line options; quick mode crawls a smaller, faster site.
#[derive(Clone, Copy)]
struct Options {
    pages: usize,
    latency: Duration,
    workers: usize,
    budget: Duration,
    /// Each request's timeout.
    timeout: Duration,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let quick = std::env::var("HOMEBOUND_QUICK").is_ok_and(|v| v == "1");
        let mut opts = Options {
            pages: if quick { 200 } else { 1000 },
            latency: Duration::from_millis(if quick { 2 } else { 8 }),
            workers: 20,
            budget: Duration::from_secs(60),
            timeout: Duration::from_millis(if quick { 50 } else { 200 }),
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        for pair in args.chunks(2) {
            let value = |what: &str| -> Result<u64, String> {
                let v = pair.get(1).ok_or(format!("{what} needs a value"))?;
                v.parse().map_err(|e| format!("{what} {v}: {e}"))
            };
            match pair[0].as_str() {
                "--pages" => opts.pages = value("--pages")?.max(1) as usize,
                "--latency-ms" => opts.latency = Duration::from_millis(value("--latency-ms")?),
                "--workers" => opts.workers = value("--workers")?.max(1) as usize,
                "--budget-ms" => opts.budget = Duration::from_millis(value("--budget-ms")?),
                other => {
                    return Err(format!(
                        "unknown option {other}; usage: crawler [--pages N] [--latency-ms MS] \
                         [--workers W] [--budget-ms MS]"
                    ));
                }
            }
        }
        Ok(opts)
    }
}
