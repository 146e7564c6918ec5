#![no_main]
//! Arbitrary bytes through translation (validate, find the partner, map with the repository's
//! mappings and partner profiles) and every document that comes out back through `render` for a
//! partner of its standard and version: nothing may panic; failures must be reasons.

use edigate::mapping::Library;
use edigate::model::Document;
use edigate::profiles::Profiles;
use edigate::syntax::validate::Options;
use edigate::syntax::Limits;
use edigate::translate::{render_interchange, Envelope, Translator};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

struct Setup {
    library: Library,
    profiles: Profiles,
    render_profiles: Profiles,
}

fn setup() -> &'static Setup {
    static CELL: OnceLock<Setup> = OnceLock::new();
    CELL.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        Setup {
            library: Library::load(&root.join("mappings")).expect("mappings"),
            profiles: Profiles::load(&root.join("partner-profiles")).expect("profiles"),
            render_profiles: Profiles::load(&root.join("tests/fixtures/render-profiles")).expect("render profiles"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let t = Translator::new(&s.library, &s.profiles);
    let opts = Options { limits: Limits { max_set_bytes: 64 * 1024 }, keep_sets: 64, keep_diagnostics: 256, record_tree: true };
    let mut docs: Vec<Document> = Vec::new();
    let _ = t.translate(data, opts, |o| {
        if let Ok(d) = o.result {
            docs.push(d);
        }
    });
    for d in docs {
        let p = d.provenance();
        let code = match p.standard.as_str() {
            "x12" => format!("x12-{}", p.version.get(..6).unwrap_or("")),
            _ => format!("edifact-{}", p.version.to_lowercase()),
        };
        if let Some(partner) = s.render_profiles.get(&code) {
            let env = Envelope { control_number: 1, date: "20240101".into(), time: "0000".into() };
            let _ = render_interchange(&s.library, partner, std::slice::from_ref(&d), &env);
        }
    }
});
