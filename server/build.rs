//! The workbench's files are embedded (`src/web/assets.rs`); a new build of them must rebuild the server, also
//! when it only adds files, which the embedding macro alone would not notice.

fn main() {
    println!("cargo:rerun-if-changed=../web/dist");
    println!("cargo:rerun-if-changed=build.rs");
}
