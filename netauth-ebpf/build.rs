// Rebuild the object when bpf-linker changes (e.g. rebuilt against a new nightly LLVM).
fn main() {
    if let Ok(linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
