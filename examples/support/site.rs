//! The crawler's local web site: `pages` HTML pages at `/page/<n>`, each linking to a few
//! others (every page is reachable from `/page/0`), answered after a per-page latency. A few
//! links are broken (404) and a few pages are slower than the crawler's per-request timeout.
//! The site counts how often each visitor (the `?crawl=<name>` of a request) requested each
//! path, so a crawl can prove "exactly once" against the server's own counts.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use homebound::Context;
use parking_lot::Mutex;

use crate::http::{Handler, Request, Response};

#[derive(Debug)]
pub struct Site {
    pub pages: usize,
    /// The mean latency of an ordinary page (each varies from half to one and a half of it).
    pub latency: Duration,
    /// How long the slow pages take (the crawler's per-request timeout should be shorter).
    pub slow: Duration,
    /// Requests per (visitor, path).
    hits: Mutex<HashMap<(String, String), u32>>,
}

impl Site {
    pub fn new(pages: usize, latency: Duration, slow: Duration) -> Arc<Site> {
        Arc::new(Site {
            pages,
            latency,
            slow,
            hits: Mutex::new(HashMap::new()),
        })
    }

    pub fn handler(self: &Arc<Self>) -> Handler {
        let site = Arc::clone(self);
        Arc::new(move |request: &Request, ctx: &Context| site.answer(request, ctx))
    }

    fn answer(&self, request: &Request, ctx: &Context) -> Response {
        let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
        let visitor = query.strip_prefix("crawl=").unwrap_or("").to_string();
        *self
            .hits
            .lock()
            .entry((visitor, path.to_string()))
            .or_default() += 1;
        let page = path
            .strip_prefix("/page/")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < self.pages);
        let Some(page) = page else {
            return Response::text(404, "no such page\n");
        };
        // The page's "backend" time; cut short only by the server's hard stop.
        if ctx.sleep(self.latency_of(page)).is_err() {
            return Response::text(503, "server stopping\n");
        }
        Response::new(200, "text/html; charset=utf-8", self.html(page))
    }

    fn latency_of(&self, page: usize) -> Duration {
        if is_slow(page) {
            self.slow
        } else {
            self.latency * (50 + (page as u32 * 37) % 101) / 100
        }
    }

    /// The pages `page` links to: its two children in a binary tree (so every page is
    /// reachable), two pseudo-random pages, and for every hundredth page a missing one.
    fn links(&self, page: usize) -> Vec<String> {
        let n = self.pages;
        let mut links: Vec<String> = [
            2 * page + 1,
            2 * page + 2,
            (page * 31 + 7) % n,
            (page * 97 + 13) % n,
        ]
        .into_iter()
        .filter(|&p| p < n)
        .map(|p| format!("/page/{p}"))
        .collect();
        if page % 100 == 99 {
            links.push(format!("/page/{}", n + page / 100)); // broken: 404
        }
        links
    }

    fn html(&self, page: usize) -> String {
        let links: String = self
            .links(page)
            .iter()
            .map(|l| format!("<li><a href=\"{l}\">{l}</a></li>"))
            .collect();
        format!("<html><head><title>page {page}</title></head><body><ul>{links}</ul></body></html>")
    }

    /// Every path a complete crawl from `/page/0` requests: all pages and the broken links.
    pub fn reachable(&self) -> BTreeSet<String> {
        (0..self.pages)
            .flat_map(|p| self.links(p))
            .chain(["/page/0".to_string()])
            .collect()
    }

    /// Paths the site serves slower than a crawler's per-request timeout.
    pub fn slow_pages(&self) -> usize {
        (0..self.pages).filter(|&p| is_slow(p)).count()
    }

    /// How often `visitor` requested each path.
    pub fn hits_of(&self, visitor: &str) -> HashMap<String, u32> {
        self.hits
            .lock()
            .iter()
            .filter(|((v, _), _)| v == visitor)
            .map(|((_, path), &n)| (path.clone(), n))
            .collect()
    }
}

fn is_slow(page: usize) -> bool {
    page % 500 == 150
}

/// The links in an HTML page: every `href="..."` value.
pub fn links_in(html: &str) -> impl Iterator<Item = &str> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
}
