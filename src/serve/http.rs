//! The few pieces of HTTP the pages need on top of tiny_http: a request read
//! into memory (with a size limit), replies in JSON, text or bytes, and
//! errors that say what was wrong.

use std::io::Read;

use serde_json::Value;

/// The largest request body accepted (a playground config is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// A request as the handlers see it.
pub struct Req {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// Reads a tiny_http request (refusing a body over [`MAX_BODY`]).
    pub fn read(r: &mut tiny_http::Request) -> Result<Req, Reply> {
        let url = r.url().to_string();
        let (path, q) = url.split_once('?').unwrap_or((&url, ""));
        let query = q
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        if r.body_length().is_some_and(|n| n > MAX_BODY) {
            return Err(Reply::error(
                413,
                format!("the request body is larger than {MAX_BODY} bytes"),
            ));
        }
        let mut body = Vec::new();
        let n = r
            .as_reader()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| Reply::error(400, format!("cannot read the request body: {e}")))?;
        if n > MAX_BODY {
            return Err(Reply::error(
                413,
                format!("the request body is larger than {MAX_BODY} bytes"),
            ));
        }
        Ok(Req {
            method: r.method().as_str().to_ascii_uppercase(),
            path: path.to_string(),
            query,
            body,
        })
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (an empty body is `{}`).
    pub fn json(&self) -> Result<Value, Reply> {
        if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Reply::error(400, format!("the request body is not valid JSON: {e}")))
    }
}

/// A reply.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(v: &Value) -> Reply {
        Reply::raw_json(v.to_string())
    }

    /// JSON text already serialised.
    pub fn raw_json(s: String) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: s.into_bytes(),
        }
    }

    pub fn bytes(content_type: &'static str, body: &[u8]) -> Reply {
        Reply {
            status: 200,
            content_type,
            body: body.to_vec(),
        }
    }

    /// `{"error": message}` with this status.
    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        let v = serde_json::json!({ "error": message.into() });
        Reply {
            status,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
        }
    }

    pub fn not_found(what: &str) -> Reply {
        Reply::error(404, format!("{what} not found"))
    }

    /// Sends the reply (a client that went away is not an error of ours).
    pub fn send(self, r: tiny_http::Request) {
        let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], self.content_type)
            .expect("a valid header");
        let nocache = tiny_http::Header::from_bytes(&b"Cache-Control"[..], &b"no-store"[..])
            .expect("a valid header");
        let resp = tiny_http::Response::from_data(self.body)
            .with_status_code(self.status)
            .with_header(header)
            .with_header(nocache);
        let _ = r.respond(resp);
    }
}

/// Percent-decodes a URL component (`%2F` → `/`, `+` stays).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
