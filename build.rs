// Gives libtasker.so a SONAME carrying the full version: no ABI stability before 1.0.
fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtasker.so.{version}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
