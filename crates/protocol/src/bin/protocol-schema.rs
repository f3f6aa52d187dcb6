//! Prints the JSON Schema of the signaling protocol: `docs/protocol.schema.json` is its output
//! (`cargo run -p convene-protocol --bin protocol-schema > docs/protocol.schema.json`).

fn main() {
    print!("{}", convene_protocol::schema_json());
}
