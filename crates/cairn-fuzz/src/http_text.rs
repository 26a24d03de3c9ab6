//! The HTTP/1.1 messages the `sigv4` and `capture` targets read, parsed with httparse (the
//! parser under hyper, which reads cairn's requests): a head, then the rest as the body.

use http::{HeaderMap, HeaderName, HeaderValue};

/// A request as the server sees it after hyper read it.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target as sent (path and query).
    pub target: &'a str,
    pub headers: HeaderMap,
    pub body: &'a [u8],
}

impl Request<'_> {
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }

    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// A response as the capture proxy reads it from its upstream.
#[derive(Debug)]
pub struct Response<'a> {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: &'a [u8],
}

const MAX_HEADERS: usize = 64;

/// `None` where hyper would refuse the request (an incomplete or malformed head, a header
/// name or value `http` does not take).
pub fn request(data: &[u8]) -> Option<Request<'_>> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let httparse::Status::Complete(length) = parsed.parse(data).ok()? else {
        return None;
    };
    let method = parsed.method?;
    let target = parsed.path?;
    // hyper takes only origin-form targets (and `*`) for ordinary requests.
    if !target.starts_with('/') {
        return None;
    }
    let headers = header_map(parsed.headers)?;
    Some(Request {
        method,
        target,
        headers,
        body: &data[length..],
    })
}

/// `None` where the head is incomplete or malformed.
pub fn response(data: &[u8]) -> Option<Response<'_>> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    let httparse::Status::Complete(length) = parsed.parse(data).ok()? else {
        return None;
    };
    let status = parsed.code?;
    let headers = header_map(parsed.headers)?;
    Some(Response {
        status,
        headers,
        body: &data[length..],
    })
}

fn header_map(headers: &[httparse::Header<'_>]) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    for header in headers {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(header.value).ok()?;
        map.append(name, value);
    }
    Some(map)
}
