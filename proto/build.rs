//! Compiles `xinfang/v1/*.proto` with protox (pure Rust, so no `protoc` is needed on the machine), writes the
//! encoded descriptor set next to the generated code for server reflection (custom options included, so a
//! reflecting client sees the Chinese labels), and generates `labels.rs`: the `label` option of every enum
//! value as Rust.

use std::{env, fmt::Write, fs, path::PathBuf};

use prost_reflect::{DescriptorPool, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut files: Vec<PathBuf> = fs::read_dir("xinfang/v1")?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|ext| ext == "proto"));
    files.sort();
    println!("cargo:rerun-if-changed=xinfang/v1");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut compiler = protox::Compiler::new(["."])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&files)?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out_dir.join("xinfang_v1_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    fs::write(
        out_dir.join("labels.rs"),
        labels(&compiler.descriptor_pool())?,
    )?;

    tonic_prost_build::configure()
        // Services not yet built answer UNIMPLEMENTED instead of forcing empty impls.
        .generate_default_stubs(true)
        // Malformed requests are INVALID_ARGUMENT, not INTERNAL (see src/codec.rs).
        .codec_path("crate::codec::Codec")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

/// `LABELS` (enum, number, value name, label) and a `label()` method on every enum of xinfang.v1.
fn labels(pool: &DescriptorPool) -> Result<String, Box<dyn std::error::Error>> {
    let option = pool
        .get_extension_by_name("xinfang.v1.label")
        .ok_or("xinfang.v1.label is not defined")?;
    let mut table = String::from("pub const LABELS: &[(&str, i32, &str, &str)] = &[\n");
    let mut methods = String::new();
    for e in pool
        .all_enums()
        .filter(|e| e.package_name() == "xinfang.v1")
    {
        let rust_name = e.name(); // every enum of xinfang.v1 is top-level
        writeln!(
            methods,
            "impl crate::v1::{rust_name} {{\n    /// The value's Chinese name (the `label` option), or its proto name where it has none.\n    pub fn label(self) -> &'static str {{\n        match self as i32 {{"
        )?;
        for v in e.values() {
            let options = v.options();
            let label = match options.get_extension(&option).as_ref() {
                Value::String(s) if options.has_extension(&option) => Some(s.clone()),
                _ => None,
            };
            if let Some(label) = &label {
                writeln!(
                    table,
                    "    ({:?}, {}, {:?}, {:?}),",
                    e.full_name(),
                    v.number(),
                    v.name(),
                    label
                )?;
            }
            writeln!(
                methods,
                "            {} => {:?},",
                v.number(),
                label.as_deref().unwrap_or(v.name())
            )?;
        }
        writeln!(methods, "            _ => \"\",\n        }}\n    }}\n}}\n")?;
    }
    table.push_str("];\n\n");
    table.push_str(&methods);
    Ok(table)
}
