//! Finds libllm.so and tells rustc how to link it.
//!
//! Search order (the first directory holding `libllm.so` wins):
//!   1. `$LIBLLM_DIR`, then `$LIBLLM_DIR/lib`, `$LIBLLM_DIR/lib64` (a build tree or an install prefix);
//!   2. the CMake build trees of this repository: `../../build`, then a few other usual names.
//!
//! An rpath to that directory is added so that tests and examples run without LD_LIBRARY_PATH.
//! When nothing is found, `-lllm` is still emitted (the system linker paths may hold it).
use std::env;
use std::path::{Path, PathBuf};

fn has_lib(dir: &Path) -> bool {
    dir.join("libllm.so").exists() || dir.join("libllm.dylib").exists()
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBLLM_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("..").join("..");

    let mut candidates: Vec<PathBuf> = Vec::new();
    let from_env = env::var_os("LIBLLM_DIR").filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = &from_env {
        candidates.push(dir.clone());
        candidates.push(dir.join("lib"));
        candidates.push(dir.join("lib64"));
    }
    for name in ["build", "build-release", "build-rs", "build-fast", "cmake-build-release", "out/build"] {
        candidates.push(root.join(name));
    }

    let found = candidates.iter().find(|d| has_lib(d));
    match found {
        Some(dir) => {
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            println!("cargo:rerun-if-changed={}", dir.join("libllm.so").display());
            println!("cargo:libdir={}", dir.display());
        }
        None => {
            if let Some(dir) = &from_env {
                println!("cargo:warning=LIBLLM_DIR={} holds no libllm.so; relying on the system search path", dir.display());
            } else {
                println!("cargo:warning=libllm.so not found (set LIBLLM_DIR or build ../../build); relying on the system search path");
            }
        }
    }
    println!("cargo:rustc-link-lib=dylib=llm");
}
