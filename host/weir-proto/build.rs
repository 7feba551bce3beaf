//! Compiles `proto/` with protox (a protobuf compiler in Rust, so no
//! `protoc` binary is needed) and generates the tonic services.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let file = root.join("weir/cluster/v1/cluster.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    let descriptors = protox::compile([&file], [&root])?;
    tonic_prost_build::configure()
        .bytes(".weir.cluster.v1.Frame.frame")
        .bytes(".weir.cluster.v1.BlobChunk.data")
        .compile_fds(descriptors)?;
    Ok(())
}
