//! The command center's assets: hand-written HTML, CSS and JavaScript (no framework, no
//! build step, no CDN), embedded in the binary with `include_bytes!` so the `rex`
//! binary serves its own pages — `rex api` and `rex dev` alike, on clusters without
//! internet.
//!
//! This crate owns the files under `web/assets/` and what a server needs to send them
//! (content type, a strong `ETag`); it does not serve HTTP (`rex-api`'s `ui` module
//! does, with the session cookie and the CSRF check) and depends on nothing.
//!
//! The pages are one shell ([`APP_SHELL`]) whose script reads the path (`/ui/`,
//! `/ui/missions/{id}`, `/ui/agents`, `/ui/domains`, `/ui/campaigns`,
//! `/ui/campaigns/{name}`) and draws the page from the tenant-scoped `/v1` API, plus
//! the sign-in page ([`SIGN_IN`]). Browser tests live in `web/e2e/`.

use std::sync::OnceLock;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

impl Asset {
    /// A strong validator of the content: FNV-1a 64 of the bytes, quoted.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", fnv1a(self.bytes))
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($path:literal, $type:expr) => {
        (
            $path,
            Asset {
                bytes: include_bytes!(concat!("../assets/", $path)),
                content_type: $type,
            },
        )
    };
}

/// Every file under `/ui/assets/`, by its path there.
const ASSETS: &[(&str, Asset)] = &[
    asset!("app.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("js/app.js", JS),
    asset!("js/charts.js", JS),
    asset!("js/dag.js", JS),
    asset!("js/missions.js", JS),
    asset!("js/mission.js", JS),
    asset!("js/agents.js", JS),
    asset!("js/domains.js", JS),
    asset!("js/campaigns.js", JS),
    asset!("js/sign-in.js", JS),
];

/// The page shell of every signed-in page.
pub const APP_SHELL: Asset = Asset {
    bytes: include_bytes!("../assets/index.html"),
    content_type: HTML,
};

/// The sign-in page.
pub const SIGN_IN: Asset = Asset {
    bytes: include_bytes!("../assets/sign-in.html"),
    content_type: HTML,
};

/// The asset at `path` (relative to `/ui/assets/`), if there is one.
pub fn asset(path: &str) -> Option<Asset> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
}

/// The paths of every asset, for tests and listings.
pub fn asset_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(p, _)| *p)
}

/// The ETag of an asset, computed once per process.
pub fn cached_etag(path: &str) -> Option<&'static str> {
    static TAGS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(p, a)| (*p, a.etag()))
            .chain([
                ("index.html", APP_SHELL.etag()),
                ("sign-in.html", SIGN_IN.etag()),
            ])
            .collect()
    })
    .iter()
    .find(|(p, _)| *p == path)
    .map(|(_, t)| t.as_str())
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_asset_is_found_with_its_type() {
        for path in asset_paths() {
            let a = asset(path).expect(path);
            assert!(!a.bytes.is_empty(), "{path} is empty");
            let ext = path.rsplit('.').next().unwrap();
            let expected = match ext {
                "js" => JS,
                "css" => CSS,
                "svg" => SVG,
                other => panic!("unexpected extension {other}"),
            };
            assert_eq!(a.content_type, expected, "{path}");
        }
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("js/nope.js").is_none());
    }

    #[test]
    fn pages_load_scripts_from_files_only() {
        // the CSP forbids inline script: no <script> without src, no on* handlers
        for page in [APP_SHELL, SIGN_IN] {
            let html = std::str::from_utf8(page.bytes).unwrap();
            for (i, _) in html.match_indices("<script") {
                let tag = &html[i..i + html[i..].find('>').unwrap()];
                assert!(tag.contains(" src=\"/ui/assets/"), "inline script: {tag}");
            }
            assert!(!html.contains(" onclick="), "inline handler");
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "external URL"
            );
        }
    }

    #[test]
    fn etags_change_with_content_and_are_quoted() {
        let a = Asset {
            bytes: b"a",
            content_type: JS,
        };
        let b = Asset {
            bytes: b"b",
            content_type: JS,
        };
        assert_ne!(a.etag(), b.etag());
        assert!(a.etag().starts_with('"') && a.etag().ends_with('"'));
        assert!(cached_etag("app.css").is_some());
        assert!(cached_etag("index.html").is_some());
    }
}
