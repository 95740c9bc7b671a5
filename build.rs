#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a build script stops the build with its message"
)]
//! Embeds `fixtures/demo/` in the binary so `gdap-audit demo` works wherever the binary is.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut out = String::from(
        "/// `fixtures/demo/` at build time: (path relative to it, contents).\npub const DEMO_FILES: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f
            .strip_prefix(&root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            out,
            "    ({rel:?}, include_str!({:?})),",
            f.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("demo_fixtures.rs");
    std::fs::write(dest, out).expect("write demo_fixtures.rs");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            // A file added to a subdirectory changes that directory, not the root: watch each one.
            println!("cargo:rerun-if-changed={}", p.display());
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json" || x == "toml") {
            out.push(p);
        }
    }
}
