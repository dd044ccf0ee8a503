//! The portal's languages: Fluent catalogues built into the binary for every shipped
//! language, each key overridable per language by the operator's theme
//! (`THEME/locales/<tag>.ftl`, which may also add a language), and the choice of one per
//! request from the page's `?lang=` or the browser's Accept-Language (q-values honoured).
//! A key missing in a language falls back to English; a catalogue that does not parse
//! stops netauth at start with its file and line.

use std::{collections::HashMap, path::Path, str::FromStr, sync::Mutex};

use anyhow::{Context as _, bail};
use fluent_bundle::{FluentArgs, FluentResource, concurrent::FluentBundle};
use fluent_langneg::{NegotiationStrategy, negotiate_languages};
use unic_langid::{CharacterDirection, LanguageIdentifier};

/// The catalogues shipped in the binary (`themes/default/locales`), English first: it is
/// the fallback for every key and every request that names no language we have.
const BUILTIN: &[(&str, &str)] = &[
    ("en", include_str!("../../themes/default/locales/en.ftl")),
    ("de", include_str!("../../themes/default/locales/de.ftl")),
    ("fr", include_str!("../../themes/default/locales/fr.ftl")),
    ("es", include_str!("../../themes/default/locales/es.ftl")),
    ("it", include_str!("../../themes/default/locales/it.ftl")),
    ("pt", include_str!("../../themes/default/locales/pt.ftl")),
    ("nl", include_str!("../../themes/default/locales/nl.ftl")),
    ("pl", include_str!("../../themes/default/locales/pl.ftl")),
    ("tr", include_str!("../../themes/default/locales/tr.ftl")),
    ("ar", include_str!("../../themes/default/locales/ar.ftl")),
    (
        "zh-Hans",
        include_str!("../../themes/default/locales/zh-Hans.ftl"),
    ),
    ("ja", include_str!("../../themes/default/locales/ja.ftl")),
];

/// Longest catalogue file read from a theme.
const MAX_CATALOGUE: u64 = 1024 * 1024;
/// Accept-Language headers longer than this, and entries past this many, are ignored.
const MAX_ACCEPT_LANGUAGE: usize = 1024;
const MAX_RANGES: usize = 32;
/// Distinct Accept-Language values whose choice is remembered.
const CACHE: usize = 1024;

/// One language the portal speaks.
pub struct Lang {
    /// The BCP 47 tag, as it goes in `lang=""` and `?lang=`.
    pub tag: String,
    /// Its own name, for the language switcher.
    pub name: String,
    pub rtl: bool,
    bundle: FluentBundle<FluentResource>,
}

/// Every language, English first.
pub struct Catalogues {
    pub langs: Vec<Lang>,
    ids: Vec<LanguageIdentifier>,
    chosen: Mutex<HashMap<Box<str>, usize>>,
}

/// Parses one catalogue; an error names `file` and the line.
fn parse(file: &str, text: String) -> anyhow::Result<FluentResource> {
    FluentResource::try_new(text.clone()).map_err(|(_, errors)| {
        let e = &errors[0];
        let line = text[..e.pos.start.min(text.len())].matches('\n').count() + 1;
        anyhow::anyhow!(
            "{file}:{line}: the catalogue does not parse: {} ({} error(s) in the file)",
            e.kind,
            errors.len()
        )
    })
}

fn bundle(id: &LanguageIdentifier) -> FluentBundle<FluentResource> {
    let mut b = FluentBundle::new_concurrent(vec![id.clone()]);
    // Pages set their direction with dir=""; isolation marks around values would only
    // show up in copied text.
    b.set_use_isolating(false);
    b
}

impl Catalogues {
    /// The built-in catalogues with the theme's overrides from `dir/locales`.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut langs = Vec::new();
        let mut ids = Vec::new();
        for (tag, text) in BUILTIN {
            let id = LanguageIdentifier::from_str(tag).expect("built-in tags are valid");
            let res = parse(&format!("built-in {tag}.ftl"), text.to_string())?;
            let mut b = bundle(&id);
            b.add_resource(res)
                .map_err(|e| anyhow::anyhow!("built-in {tag}.ftl: {e:?}"))?;
            langs.push(Lang {
                tag: tag.to_string(),
                name: String::new(),
                rtl: id.character_direction() == CharacterDirection::RTL,
                bundle: b,
            });
            ids.push(id);
        }
        if let Some(dir) = dir.map(|d| d.join("locales")).filter(|d| d.is_dir()) {
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ftl"))
                .collect();
            files.sort();
            for path in files {
                let shown = path.display().to_string();
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                let id = LanguageIdentifier::from_str(stem).map_err(|_| {
                    anyhow::anyhow!("{shown}: the file name is not a language tag (like de.ftl)")
                })?;
                let text = super::theme::read_small(&path, MAX_CATALOGUE)?;
                let res = parse(&shown, text)?;
                match ids.iter().position(|i| *i == id) {
                    Some(i) => langs[i].bundle.add_resource_overriding(res),
                    None => {
                        let mut b = bundle(&id);
                        b.add_resource_overriding(res);
                        langs.push(Lang {
                            tag: id.to_string(),
                            name: String::new(),
                            rtl: id.character_direction() == CharacterDirection::RTL,
                            bundle: b,
                        });
                        ids.push(id);
                    }
                }
            }
        }
        let mut cats = Self {
            langs,
            ids,
            chosen: Mutex::new(HashMap::new()),
        };
        for i in 0..cats.langs.len() {
            let name = cats.message(i, "language-name", None);
            cats.langs[i].name = name.unwrap_or_else(|| cats.langs[i].tag.clone());
        }
        if cats.message(0, "sign-in", None).is_none() {
            bail!("the English catalogue has no sign-in message");
        }
        Ok(cats)
    }

    /// The message `key` in language `lang`, else in English; `None` if neither has it.
    pub fn message(&self, lang: usize, key: &str, args: Option<&FluentArgs>) -> Option<String> {
        let langs = [self.langs.get(lang)?, &self.langs[0]];
        langs.into_iter().find_map(|l| {
            let pattern = l.bundle.get_message(key)?.value()?;
            let mut errors = Vec::new();
            Some(
                l.bundle
                    .format_pattern(pattern, args, &mut errors)
                    .into_owned(),
            )
        })
    }

    /// The language a request is answered in: the one it names with `?lang=` (a tag we
    /// have, exactly), else the browser's choice, else English.
    pub fn choose(&self, asked: Option<&str>, accept_language: Option<&str>) -> usize {
        if let Some(a) = asked
            && let Some(i) = self.by_tag(a)
        {
            return i;
        }
        accept_language.map_or(0, |h| self.negotiate(h))
    }

    /// The index of the language tagged `tag` (any case).
    pub fn by_tag(&self, tag: &str) -> Option<usize> {
        self.langs
            .iter()
            .position(|l| l.tag.eq_ignore_ascii_case(tag))
    }

    /// The best language for an Accept-Language header (RFC 9110 §12.5.4): ranges by
    /// descending q, the first we have (by the language's likely script and region, so
    /// zh-CN finds zh-Hans and pt-BR finds pt) wins; q=0 and malformed ranges are skipped.
    pub fn negotiate(&self, header: &str) -> usize {
        if header.len() > MAX_ACCEPT_LANGUAGE {
            // Not one a browser sends: English, and not remembered (the cache stays small).
            return 0;
        }
        if let Some(&i) = self.lock().get(header) {
            return i;
        }
        let i = self.negotiate_uncached(header);
        let mut chosen = self.lock();
        if chosen.len() >= CACHE {
            chosen.clear();
        }
        chosen.insert(header.into(), i);
        i
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, usize>> {
        self.chosen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn negotiate_uncached(&self, header: &str) -> usize {
        let ranges = accept_language(header);
        let picked = negotiate_languages(
            &ranges,
            &self.ids,
            Some(&self.ids[0]),
            NegotiationStrategy::Lookup,
        );
        picked
            .first()
            .and_then(|p| self.ids.iter().position(|i| i == *p))
            .unwrap_or(0)
    }
}

/// The language ranges of an Accept-Language header, most wanted first.
fn accept_language(header: &str) -> Vec<LanguageIdentifier> {
    if header.len() > MAX_ACCEPT_LANGUAGE {
        return Vec::new();
    }
    let mut ranges: Vec<(u16, LanguageIdentifier)> = header
        .split(',')
        .take(MAX_RANGES)
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let mut q = 1000u16;
            for p in parts {
                let (k, v) = p.split_once('=')?;
                if k.trim().eq_ignore_ascii_case("q") {
                    q = qvalue(v.trim())?;
                }
            }
            if q == 0 || tag == "*" || tag.is_empty() {
                return None;
            }
            Some((q, LanguageIdentifier::from_str(tag).ok()?))
        })
        .collect();
    // Stable: equal q keeps the header's order.
    ranges.sort_by_key(|r| std::cmp::Reverse(r.0));
    ranges.into_iter().map(|(_, id)| id).collect()
}

/// A q-value in thousandths ("0.8" → 800), or `None` if it is not one (RFC 9110 §12.4.2).
fn qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(c: &Catalogues, h: &str) -> String {
        c.langs[c.negotiate(h)].tag.clone()
    }

    #[test]
    fn accept_language_is_negotiated_by_q_value() {
        let c = Catalogues::load(None).unwrap();
        assert_eq!(tag(&c, "de-DE,de;q=0.9,en;q=0.8"), "de");
        assert_eq!(tag(&c, "en;q=0.5, fr;q=0.9"), "fr");
        assert_eq!(tag(&c, "sv, nl;q=0.3"), "nl");
        assert_eq!(tag(&c, "zh-CN,zh;q=0.9"), "zh-Hans");
        assert_eq!(tag(&c, "pt-BR"), "pt");
        assert_eq!(tag(&c, "ar-EG"), "ar");
        assert_eq!(tag(&c, "ja-JP"), "ja");
        assert_eq!(tag(&c, "de;q=0, fr;q=0.1"), "fr");
        // Garbage, absurd q-values and floods fall back to English, never panic.
        for h in [
            "",
            ";;;,,,",
            "de;q=2",
            "de;q=0.1234",
            "de;q=abc",
            "\u{0}\u{ff}",
            "*",
            &"x-".repeat(5000),
            &"de;q=0.5,".repeat(100),
        ] {
            let t = tag(&c, h);
            assert!(t == "en" || h.starts_with("de;q=0.5"), "{h:?} gave {t}");
        }
        assert_eq!(c.choose(Some("AR"), Some("de")), c.by_tag("ar").unwrap());
        assert_eq!(c.choose(Some("xx"), Some("de")), c.by_tag("de").unwrap());
        assert!(c.langs[c.by_tag("ar").unwrap()].rtl);
        assert!(!c.langs[c.by_tag("he").unwrap_or(0)].rtl);
    }

    #[test]
    fn every_shipped_language_has_every_english_key() {
        let c = Catalogues::load(None).unwrap();
        let en = BUILTIN[0].1;
        let keys: Vec<&str> = en
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
            .filter(|k| !k.starts_with('#') && !k.starts_with(' '))
            .collect();
        assert!(keys.len() > 40);
        for (i, l) in c.langs.iter().enumerate() {
            assert!(
                BUILTIN[i].1.contains("Machine-made") || l.tag == "en",
                "{}: catalogue header must say how it was translated",
                l.tag
            );
            for k in &keys {
                assert!(l.bundle.get_message(k).is_some(), "{} lacks {k}", l.tag);
            }
        }
    }

    #[test]
    fn overrides_replace_keys_and_add_languages_and_broken_ones_name_the_line() {
        let dir = std::env::temp_dir().join(format!("netauth-i18n-{}", std::process::id()));
        let locales = dir.join("locales");
        std::fs::create_dir_all(&locales).unwrap();
        std::fs::write(locales.join("de.ftl"), "sign-in = Jetzt rein\n").unwrap();
        std::fs::write(
            locales.join("sv.ftl"),
            "language-name = Svenska\nsign-in = Logga in\n",
        )
        .unwrap();
        let c = Catalogues::load(Some(&dir)).unwrap();
        let de = c.by_tag("de").unwrap();
        assert_eq!(c.message(de, "sign-in", None).unwrap(), "Jetzt rein");
        assert_eq!(c.message(de, "log-out", None).unwrap(), "Abmelden");
        let sv = c.by_tag("sv").unwrap();
        assert_eq!(c.message(sv, "sign-in", None).unwrap(), "Logga in");
        assert_eq!(c.message(sv, "log-out", None).unwrap(), "Log out");
        assert_eq!(c.langs[sv].name, "Svenska");
        std::fs::write(locales.join("fr.ftl"), "sign-in = ok\n\nbroken {\n").unwrap();
        let e = Catalogues::load(Some(&dir)).err().unwrap().to_string();
        assert!(e.contains("fr.ftl:3:"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
