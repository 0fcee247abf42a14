# Sourced by the fuzz scripts: cargo-fuzz needs a nightly compiler. With the nightly toolchain
# installed it is used; without it, the stable one builds the same targets with RUSTC_BOOTSTRAP=1.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  FUZZ_TOOLCHAIN=(+nightly)
else
  FUZZ_TOOLCHAIN=()
  export RUSTC_BOOTSTRAP=1
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
