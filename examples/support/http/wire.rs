//! HTTP/1.1 on the wire: read one request (its head parsed by `httparse`), write one response.

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;

/// The longest request head we read, as real servers bound it.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

/// A request as the handlers see it (the demo's requests carry no body worth keeping).
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Whether the client wants the connection kept open after the response.
    pub keep_alive: bool,
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// Not HTTP, too large, or cut short by the peer: answer 400 and close.
    Bad(String),
    Io(io::Error),
}

/// Reads one request. `Ok(None)`: the peer closed the connection between requests (or the
/// server's stop shut its read side while it was idle).
pub fn read_request(reader: &mut impl BufRead) -> Result<Option<Request>, ReadError> {
    let Some(head) = read_head(reader)? else {
        return Ok(None);
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(ReadError::Bad("incomplete head".into())),
        Err(e) => return Err(ReadError::Bad(e.to_string())),
    }
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    if header("transfer-encoding").is_some() {
        return Err(ReadError::Bad(
            "chunked request bodies are not supported".into(),
        ));
    }
    let body_len: u64 = match header("content-length") {
        Some(n) => n
            .trim()
            .parse()
            .map_err(|_| ReadError::Bad("bad content-length".into()))?,
        None => 0,
    };
    // Skip the body so the next request starts where it should.
    io::copy(&mut reader.take(body_len), &mut io::sink()).map_err(ReadError::Io)?;
    let connection = header("connection").unwrap_or_default();
    let keep_alive = match parsed.version {
        Some(1) => !connection.contains("close"),
        _ => connection.contains("keep-alive"),
    };
    Ok(Some(Request {
        method: parsed.method.unwrap_or("").to_owned(),
        path: parsed.path.unwrap_or("/").to_owned(),
        keep_alive,
    }))
}

/// The head, line by line up to the empty line: reading by lines never takes bytes that
/// belong to the body or to the next request.
fn read_head(reader: &mut impl BufRead) -> Result<Option<Vec<u8>>, ReadError> {
    let mut head = Vec::with_capacity(512);
    loop {
        let before = head.len();
        let n = reader
            .take((MAX_HEAD + 1 - before) as u64)
            .read_until(b'\n', &mut head)
            .map_err(ReadError::Io)?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(ReadError::Bad("connection closed mid-request".into()))
            };
        }
        if head.len() > MAX_HEAD {
            return Err(ReadError::Bad("request head too large".into()));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            return Ok(Some(head));
        }
    }
}

/// A response: status, content type and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
        }
    }

    /// A plain-text response.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response::new(status, "text/plain; charset=utf-8", body)
    }
}

/// Writes `response` in one write (so no small-packet delay), telling the client whether the
/// connection stays open.
pub fn write_response(out: &mut TcpStream, response: &Response, close: bool) -> io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Unknown",
    };
    let connection = if close { "close" } else { "keep-alive" };
    let mut bytes = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&response.body);
    out.write_all(&bytes)?;
    out.flush()
}
