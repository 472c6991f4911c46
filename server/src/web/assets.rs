//! The workbench's static files, embedded from `web/dist/` at build time (`build.rs` rebuilds when the folder
//! changes), so the running service needs no Node and no files beside the binary.
//!
//! - `GET`/`HEAD` only; anything else is 405 (also a cross-origin preflight, so no other site may call the
//!   API from a browser: the workbench is served from the same origin and needs no CORS).
//! - A path that names no file and has no extension is a route of the single-page app: `index.html`. A
//!   missing path with an extension (`/assets/old-1234.js`) is 404, since a script answered with a page
//!   makes the browser report a MIME error instead of the missing file.
//! - `Cache-Control`: files whose name carries the bundler's content hash (`assets/…`, `name-HASH.ext`) are
//!   immutable for a year; everything else (`index.html` first) is `no-cache`, revalidated by its ETag, so a
//!   new build is picked up at the next load.
//! - gzip or brotli as the browser accepts them (tower-http), for text types.
//! - Pages carry a Content-Security-Policy of this origin only ([`CONTENT_SECURITY_POLICY`]).

use std::{convert::Infallible, future::Ready};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use rust_embed::RustEmbed;
use tonic::body::Body;
use tower::{Layer, Service};
use tower_http::compression::{Compression, CompressionLayer};

#[derive(RustEmbed)]
#[folder = "../web/dist/"]
struct Dist;

/// The static files with compression in front.
#[derive(Clone)]
pub struct Files(Compression<Embedded>);

impl Files {
    pub fn new() -> Self {
        Self(CompressionLayer::new().layer(Embedded))
    }

    pub async fn serve(mut self, request: Request<Body>) -> Response<Body> {
        match self.0.call(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        }
    }
}

impl Default for Files {
    fn default() -> Self {
        Self::new()
    }
}

/// The embedded files, uncompressed.
#[derive(Clone, Copy, Default)]
pub struct Embedded;

impl<B> Service<Request<B>> for Embedded {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        std::future::ready(Ok(respond(&request)))
    }
}

/// The response to one request for a file.
pub fn respond<B>(request: &Request<B>) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    if request.method() != Method::GET && !head {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let path = request.uri().path().trim_start_matches('/');
    let (name, file) = match lookup(path) {
        Some(found) => found,
        None => {
            let last = path.rsplit('/').next().unwrap_or_default();
            if last.contains('.') {
                return plain(StatusCode::NOT_FOUND, "not found");
            }
            match Dist::get("index.html") {
                Some(file) => ("index.html".to_owned(), file),
                None => return plain(StatusCode::NOT_FOUND, "the workbench is not built"),
            }
        }
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let not_modified = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut builder = Response::builder()
        .header(
            header::CONTENT_TYPE,
            content_type(&name, file.metadata.mimetype()),
        )
        .header(header::CACHE_CONTROL, cache_control(&name))
        .header(header::ETAG, &etag)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY");
    if name.ends_with(".html") {
        builder = builder.header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    }
    let body = if not_modified {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        Body::empty()
    } else {
        builder = builder.header(header::CONTENT_LENGTH, file.data.len());
        if head {
            Body::empty()
        } else {
            Body::new(http_body_full(file.data.into_owned()))
        }
    };
    builder
        .body(body)
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "bad response"))
}

/// What the workbench's pages may load and call: only this origin (scripts, styles, the API), inline styles
/// (charts set style attributes), images and fonts also as data or blob URLs (a chart exported as an
/// image, a report downloaded). No inline script and no other origin: an injected script in a page that
/// shows petitioners' names and ID numbers could neither run nor send them anywhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The file at `path`: itself, or `path/index.html` for a folder, or `index.html` for `/`.
fn lookup(path: &str) -> Option<(String, rust_embed::EmbeddedFile)> {
    if path.split('/').any(|segment| segment == "..") {
        return None;
    }
    let candidates = if path.is_empty() {
        vec!["index.html".to_owned()]
    } else {
        vec![
            path.to_owned(),
            format!("{}/index.html", path.trim_end_matches('/')),
        ]
    };
    candidates
        .into_iter()
        .find_map(|name| Dist::get(&name).map(|file| (name, file)))
}

/// The content type, with the charset for text: the workbench is Chinese throughout.
fn content_type(name: &str, guessed: &str) -> String {
    let textual = guessed.starts_with("text/")
        || matches!(
            guessed,
            "application/javascript" | "application/json" | "image/svg+xml"
        );
    if name.ends_with(".js") || name.ends_with(".mjs") {
        return "text/javascript; charset=utf-8".to_owned();
    }
    if textual && !guessed.contains("charset") {
        format!("{guessed}; charset=utf-8")
    } else {
        guessed.to_owned()
    }
}

/// Immutable for names the bundler made unique by their content; revalidated for everything else.
pub fn cache_control(name: &str) -> &'static str {
    if name.starts_with("assets/") || has_content_hash(name) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// `index-BvX2k9aQ.js`, `chunk.3f9a1c2e.css`: a last name part of 8 or more letters and digits, with at
/// least one digit, before the extension.
fn has_content_hash(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    let Some((stem, _ext)) = file.rsplit_once('.') else {
        return false;
    };
    let hash = stem.rsplit(['-', '.']).next().unwrap_or_default();
    hash.len() >= 8
        && hash != stem
        && hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && hash.chars().any(|c| c.is_ascii_digit())
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_full(text.as_bytes().to_vec())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// One buffer as a body.
fn http_body_full(bytes: Vec<u8>) -> http_body_util::Full<bytes::Bytes> {
    http_body_util::Full::new(bytes::Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_immutable_and_the_rest_revalidated() {
        assert_eq!(cache_control("index.html"), "no-cache");
        assert_eq!(cache_control("favicon.ico"), "no-cache");
        assert!(cache_control("assets/index-BvX2k9aQ.js").contains("immutable"));
        assert!(cache_control("chunk.3f9a1c2e.css").contains("immutable"));
        assert!(!has_content_hash("report-template.html"));
        assert!(!has_content_hash("logo.svg"));
    }

    #[test]
    fn routes_of_the_app_get_the_index_and_missing_files_404() {
        let get = |path: &str| respond(&Request::get(path).body(()).unwrap());
        let root = get("/");
        assert_eq!(root.status(), StatusCode::OK);
        assert_eq!(
            root.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(root.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(get("/cases/123").status(), StatusCode::OK);
        assert_eq!(
            get("/assets/gone-12345678.js").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(get("/../Cargo.toml").status(), StatusCode::NOT_FOUND);
        let post = respond(&Request::post("/").body(()).unwrap());
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
