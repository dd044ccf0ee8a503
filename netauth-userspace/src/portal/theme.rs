//! The portal's look: minijinja templates for every page, the built-in theme
//! (`netauth-userspace/themes/default`, compiled into the binary) overridden file by file
//! from `--theme DIR`, and the theme's static files (logo, CSS, images, fonts) served
//! from memory under [`ASSET_PREFIX`] with an ETag and Cache-Control.
//!
//! Everything is read and checked at start: a template that does not compile, or a page
//! that fails to render with sample values in any language, stops netauth with the file
//! and line. Static files are loaded once, so a request names a key in a map, never a
//! path on disk: no traversal, no symlink escapes (symlinks leaving the theme are refused
//! at start).

use std::{
    collections::HashMap,
    io::Read as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context as _, bail};
use axum::{
    body::Bytes,
    http::{HeaderValue, Response, StatusCode, header},
};
use fluent_bundle::{FluentArgs, FluentValue};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, Value, value::Kwargs};
use sha2::Digest as _;

use super::{asked::Headers, i18n::Catalogues};

/// Where the theme's static files are served, on the portal and on intercepted hosts.
pub const ASSET_PREFIX: &str = "/_netauth/theme/";

/// The built-in templates; a theme's `templates/` may replace any of them (and add more
/// for its own `{% include %}`s).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../themes/default/templates/base.html"),
    ),
    (
        "style.css",
        include_str!("../../themes/default/templates/style.css"),
    ),
    (
        "511.html",
        include_str!("../../themes/default/templates/511.html"),
    ),
    (
        "moved.html",
        include_str!("../../themes/default/templates/moved.html"),
    ),
    (
        "login.html",
        include_str!("../../themes/default/templates/login.html"),
    ),
    (
        "status.html",
        include_str!("../../themes/default/templates/status.html"),
    ),
    (
        "signed-out.html",
        include_str!("../../themes/default/templates/signed-out.html"),
    ),
    (
        "error.html",
        include_str!("../../themes/default/templates/error.html"),
    ),
];

const MAX_TEMPLATE: u64 = 256 * 1024;
const MAX_ASSET: u64 = 4 * 1024 * 1024;
const MAX_ASSETS_TOTAL: u64 = 32 * 1024 * 1024;
const MAX_ASSET_FILES: usize = 1000;
const MAX_DEPTH: usize = 8;

/// One static file of the theme, ready to send.
struct Asset {
    body: Bytes,
    etag: HeaderValue,
    content_type: &'static str,
}

pub struct Theme {
    env: Environment<'static>,
    pub i18n: Arc<Catalogues>,
    assets: HashMap<String, Asset>,
}

/// Reads a text file of at most `max` bytes.
pub fn read_small(path: &Path, max: u64) -> anyhow::Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut text = String::new();
    f.take(max + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {} (it must be UTF-8 text)", path.display()))?;
    if text.len() as u64 > max {
        bail!("{} is larger than {max} bytes", path.display());
    }
    Ok(text)
}

/// "FILE:LINE: what" for a template error.
fn describe(e: &Error, files: &HashMap<String, PathBuf>) -> String {
    let name = e.name().unwrap_or("?");
    let file = files
        .get(name)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| format!("built-in template {name}"));
    let line = e
        .line()
        .map(|l| l.to_string())
        .unwrap_or_else(|| "?".into());
    let what = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    format!("{file}:{line}: {what}")
}

impl Theme {
    /// The built-in theme, with `dir`'s templates, catalogues and static files over it.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(d) = dir
            && !d.is_dir()
        {
            bail!("theme directory {} does not exist", d.display());
        }
        let i18n = Arc::new(Catalogues::load(dir)?);
        let mut sources: HashMap<String, String> = TEMPLATES
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
        let mut files = HashMap::new();
        if let Some(tdir) = dir.map(|d| d.join("templates")).filter(|d| d.is_dir()) {
            for e in
                std::fs::read_dir(&tdir).with_context(|| format!("reading {}", tdir.display()))?
            {
                let path = e?.path();
                let Some(name) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_string)
                else {
                    continue;
                };
                if name.starts_with('.') || !path.is_file() {
                    continue;
                }
                sources.insert(name.clone(), read_small(&path, MAX_TEMPLATE)?);
                files.insert(name, path);
            }
        }
        let mut env = Environment::new();
        env.set_formatter(escape);
        let cats = i18n.clone();
        env.add_function("t", move |state: &State, key: &str, kwargs: Kwargs| {
            translate(&cats, state, key, kwargs)
        });
        let mut names: Vec<_> = sources.keys().cloned().collect();
        names.sort();
        for name in names {
            let source = sources.remove(&name).unwrap_or_default();
            env.add_template_owned(name, source)
                .map_err(|e| anyhow::anyhow!("theme template {}", describe(&e, &files)))?;
        }
        let assets = match dir.map(|d| d.join("static")).filter(|d| d.is_dir()) {
            Some(s) => load_assets(&s)?,
            None => HashMap::new(),
        };
        let theme = Self { env, i18n, assets };
        theme
            .check()
            .map_err(|e| anyhow::anyhow!("theme template {}", describe(&e, &files)))?;
        Ok(theme)
    }

    /// Renders template `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String, Error> {
        self.env.get_template(name)?.render(ctx)
    }

    /// Renders every page with sample values in every language, so that what would fail
    /// at a visitor's request fails now.
    fn check(&self) -> Result<(), Error> {
        for lang in 0..self.i18n.langs.len() {
            for ctx in super::pages::samples(self, lang) {
                let name: String = ctx
                    .get_attr("template")
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                self.render(&name, ctx)?;
            }
        }
        Ok(())
    }

    /// The answer to a request for `path` (what follows [`ASSET_PREFIX`]): the file with
    /// its validators, 304 if the browser has it, `None` if the theme has no such file.
    pub fn asset(&self, path: &str, headers: &Headers<'_>) -> Option<Response<Bytes>> {
        let a = self.assets.get(path)?;
        let fresh = headers.any(&header::IF_NONE_MATCH, |v| {
            v.split(|b| *b == b',')
                .any(|t| t.trim_ascii() == a.etag.as_bytes())
        });
        let mut r = Response::new(if fresh { Bytes::new() } else { a.body.clone() });
        if fresh {
            *r.status_mut() = StatusCode::NOT_MODIFIED;
        }
        let h = r.headers_mut();
        h.insert(header::ETAG, a.etag.clone());
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // An SVG opened on its own runs no script.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
            ),
        );
        Some(r)
    }
}

/// Output of `{{ ... }}`: in HTML templates every value that is not marked safe is
/// escaped for text and quoted attributes alike (`& < > " '`); elsewhere as is.
fn escape(out: &mut minijinja::Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if *state.auto_escape() == AutoEscape::Html
        && !value.is_safe()
        && !value.is_none()
        && !value.is_undefined()
    {
        let s = value.to_string();
        out.write_str(&html_escape::encode_quoted_attribute(&s))
            .map_err(|_| Error::new(ErrorKind::WriteFailure, "writing the page"))
    } else {
        minijinja::escape_formatter(out, state, value)
    }
}

/// `t("key", name=value, ...)`: the message in the page's language (`lang_index` in the
/// context), else English; a key no catalogue has is an error (caught at start).
fn translate(cats: &Catalogues, state: &State, key: &str, kwargs: Kwargs) -> Result<String, Error> {
    let lang = state
        .lookup("lang_index")
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(0);
    let mut args = FluentArgs::new();
    for name in kwargs.args() {
        let v: Value = kwargs.get(name)?;
        let v = match v.as_i64() {
            Some(n) => FluentValue::from(n),
            None => FluentValue::from(v.to_string()),
        };
        args.set(name.to_string(), v);
    }
    cats.message(lang, key, Some(&args)).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("no catalogue has the message {key:?}"),
        )
    })
}

/// Every regular file under `root`, by its path relative to it with `/`.
fn load_assets(root: &Path) -> anyhow::Result<HashMap<String, Asset>> {
    let real_root = root
        .canonicalize()
        .with_context(|| format!("reading {}", root.display()))?;
    let mut out = HashMap::new();
    let mut total = 0u64;
    let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = e?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                bail!("{}: theme file names must be UTF-8", path.display());
            };
            if name.starts_with('.') {
                continue;
            }
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                bail!(
                    "{}: theme file names may use only letters, digits, '-', '_' and '.'",
                    path.display()
                );
            }
            let real = path
                .canonicalize()
                .with_context(|| format!("reading {}", path.display()))?;
            if !real.starts_with(&real_root) {
                bail!(
                    "{} points outside the theme's static directory; refused",
                    path.display()
                );
            }
            let key = format!("{prefix}{name}");
            if real.is_dir() {
                if depth >= MAX_DEPTH {
                    bail!("{}: theme directories nest too deep", path.display());
                }
                stack.push((path, format!("{key}/"), depth + 1));
                continue;
            }
            let len = real.metadata()?.len();
            total += len;
            if len > MAX_ASSET || total > MAX_ASSETS_TOTAL || out.len() >= MAX_ASSET_FILES {
                bail!(
                    "{}: theme static files are limited to {MAX_ASSET} bytes each, \
                     {MAX_ASSETS_TOTAL} in all and {MAX_ASSET_FILES} files",
                    path.display()
                );
            }
            let body =
                std::fs::read(&real).with_context(|| format!("reading {}", path.display()))?;
            let digest = sha2::Sha256::digest(&body);
            let etag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            out.insert(
                key,
                Asset {
                    etag: HeaderValue::from_str(&format!("\"{etag}\""))
                        .expect("hex is a valid header"),
                    content_type: content_type(name),
                    body: body.into(),
                },
            );
        }
    }
    Ok(out)
}

fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "css" => "text/css; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "txt" => "text/plain; charset=utf-8",
        "html" | "htm" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
