//! Configuration files: a replica's key file, the committee file and the parameters file. All
//! are JSON. Errors name the file and the field: serde's message (a missing or unknown field, a
//! value of the wrong type) gives the line and column, and a committee entry whose key or address
//! does not parse is named as `nodes[i]: field `address``.
//!
//! Key file (`hotstuff keys --filename node.json`; keep it private):
//!
//! ```json
//! { "name": "<public key, 64 hex characters>", "secret": "<secret key, 64 hex characters>" }
//! ```
//!
//! Committee file. Node `i` (its `NodeId`, which also decides the rounds it leads) is the `i`-th
//! entry. `address` carries all replica-to-replica traffic (consensus and mempool messages share
//! one connection per peer); `transactions` is where clients send transactions.
//!
//! ```json
//! { "nodes": [
//!     { "name": "<public key hex>", "address": "127.0.0.1:7000", "transactions": "127.0.0.1:7100" },
//!     …
//! ] }
//! ```
//!
//! Parameters file: [`Parameters`] as JSON; every field is optional (defaults apply) and an
//! unknown field is an error. Example: `{ "round_timeout_ms": 2000, "commit_rule": "ThreeChain" }`.

use hotstuff_core::{Committee, KeyPair, Member, NodeId, Parameters, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape (serde names the field, line and column).
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The content is well-formed but wrong.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A replica's key file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// The public key (the node's name in the committee file), hex.
    pub name: String,
    /// The 32 secret bytes, hex.
    pub secret: String,
}

impl KeyFile {
    /// The file for a key pair.
    pub fn new(keys: &KeyPair) -> Self {
        Self { name: keys.public().to_hex(), secret: hex::encode(keys.secret()) }
    }

    /// A fresh key pair from the operating system's randomness.
    pub fn generate() -> Result<KeyPair, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(KeyPair::from_secret(secret))
    }

    /// Writes the file; refuses to overwrite an existing one (a replica that loses its key
    /// cannot rejoin its committee). On Unix only the owner may read it.
    pub fn write_new(&self, path: &Path) -> Result<(), ConfigError> {
        use std::io::Write as _;
        let io = |source| ConfigError::Io { path: path.to_path_buf(), source };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|error| match error.kind() {
            std::io::ErrorKind::AlreadyExists => ConfigError::Invalid {
                path: path.to_path_buf(),
                reason: "already exists; refusing to overwrite a key file".to_string(),
            },
            _ => io(error),
        })?;
        // Serialising two strings cannot fail.
        let text = serde_json::to_string_pretty(self).expect("key file serialises");
        file.write_all(text.as_bytes()).and_then(|()| file.write_all(b"\n")).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a key file and checks that its name matches its secret.
    pub fn load(path: &Path) -> Result<KeyPair, ConfigError> {
        let file: Self = read_json(path)?;
        let invalid = |reason: String| ConfigError::Invalid { path: path.to_path_buf(), reason };
        let secret: [u8; 32] = hex::decode(&file.secret)
            .map_err(|e| e.to_string())
            .and_then(|b| b.try_into().map_err(|_| "must be 32 bytes (64 hex characters)".to_string()))
            .map_err(|e| invalid(format!("field `secret`: {e}")))?;
        let keys = KeyPair::from_secret(secret);
        let name = PublicKey::from_hex(&file.name).map_err(|e| invalid(format!("field `name`: {e}")))?;
        if name != keys.public() {
            return Err(invalid("field `name` is not the public key of field `secret`".to_string()));
        }
        Ok(keys)
    }
}

/// One committee member's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawNodeEntry")]
pub struct NodeEntry {
    /// Its public key, hex.
    #[serde(serialize_with = "hex_public_key")]
    pub name: PublicKey,
    /// Where it listens for its peers (consensus and mempool traffic).
    pub address: SocketAddr,
    /// Where it listens for client transactions.
    pub transactions: SocketAddr,
}

/// A committee entry as written: strings, checked field by field afterwards so that an error can
/// name the entry and the field (serde alone would report a bad address by line and column only).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodeEntry {
    name: String,
    address: String,
    transactions: String,
}

impl TryFrom<RawNodeEntry> for NodeEntry {
    type Error = String;

    fn try_from(raw: RawNodeEntry) -> Result<Self, String> {
        let address = |field: &str, text: &str| {
            text.parse::<SocketAddr>()
                .map_err(|e| format!("field `{field}`: {text:?} is not an IP:port address ({e})"))
        };
        Ok(Self {
            name: PublicKey::from_hex(&raw.name).map_err(|e| format!("field `name`: bad public key: {e}"))?,
            address: address("address", &raw.address)?,
            transactions: address("transactions", &raw.transactions)?,
        })
    }
}

/// The committee file as written (see [`RawNodeEntry`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommittee {
    nodes: Vec<RawNodeEntry>,
}

/// The committee file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeConfig {
    /// Members in `NodeId` order.
    pub nodes: Vec<NodeEntry>,
}

impl CommitteeConfig {
    /// Reads and checks a committee file. An error names the file and the field: serde's
    /// message (with line and column) for JSON of the wrong shape, or `nodes[i].field` for a
    /// value that does not parse or a committee that is inconsistent.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: RawCommittee = read_json(path)?;
        let invalid = |reason| ConfigError::Invalid { path: path.to_path_buf(), reason };
        let nodes = raw
            .nodes
            .into_iter()
            .enumerate()
            .map(|(i, raw)| NodeEntry::try_from(raw).map_err(|e| invalid(format!("nodes[{i}]: {e}"))))
            .collect::<Result<_, _>>()?;
        let config = Self { nodes };
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    /// Writes the file (pretty JSON).
    pub fn write(&self, path: &Path) -> Result<(), ConfigError> {
        // Plain data always serialises.
        let text = serde_json::to_string_pretty(self).expect("committee serialises");
        std::fs::write(path, text + "\n")
            .map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })
    }

    /// Refuses an empty committee, a repeated name, and an address used twice.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() || self.nodes.len() > usize::from(u16::MAX) {
            return Err(format!(
                "field `nodes`: a committee has 1..=65535 members, not {}",
                self.nodes.len()
            ));
        }
        let mut names = BTreeMap::new();
        let mut addresses = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(first) = names.insert(node.name, i) {
                return Err(format!("nodes[{i}].name repeats nodes[{first}].name"));
            }
            for (field, address) in [("address", node.address), ("transactions", node.transactions)] {
                if address.port() == 0 {
                    return Err(format!("nodes[{i}].{field}: port 0 is not an address peers can reach"));
                }
                if let Some(first) = addresses.insert(address, format!("nodes[{i}].{field}")) {
                    return Err(format!("nodes[{i}].{field} ({address}) is already used by {first}"));
                }
            }
        }
        Ok(())
    }

    /// The core's committee.
    pub fn committee(&self) -> Committee {
        let members = self.nodes.iter().map(|n| Member { public_key: n.name }).collect();
        // Names parsed as valid points and the size was validated.
        Committee::new(members).expect("validated committee")
    }

    /// The id of the member with this public key.
    pub fn id_of(&self, name: &PublicKey) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.name == *name).map(|i| NodeId(i as u16))
    }

    /// A member's entry.
    pub fn node(&self, id: NodeId) -> Option<&NodeEntry> {
        self.nodes.get(id.index())
    }
}

/// Reads a parameters file and validates it.
pub fn load_parameters(path: &Path) -> Result<Parameters, ConfigError> {
    let parameters: Parameters = read_json(path)?;
    parameters
        .validate()
        .map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), reason: e.to_string() })?;
    Ok(parameters)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source })
}

fn hex_public_key<S: serde::Serializer>(key: &PublicKey, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&key.to_hex())
}

#[cfg(test)]
mod tests {
    use super::{CommitteeConfig, ConfigError, KeyFile, NodeEntry};
    use hotstuff_core::KeyPair;
    use std::path::Path;

    fn committee(n: u16) -> CommitteeConfig {
        let nodes = (0..n)
            .map(|i| NodeEntry {
                name: KeyPair::from_seed(1, i).public(),
                address: format!("127.0.0.1:{}", 7000 + i).parse().unwrap(),
                transactions: format!("127.0.0.1:{}", 7100 + i).parse().unwrap(),
            })
            .collect();
        CommitteeConfig { nodes }
    }

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn key_files_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.json");
        let keys = KeyFile::generate().unwrap();
        KeyFile::new(&keys).write_new(&path).unwrap();
        assert_eq!(KeyFile::load(&path).unwrap().public(), keys.public());
        assert!(matches!(KeyFile::new(&keys).write_new(&path), Err(ConfigError::Invalid { .. })));
        assert_ne!(KeyFile::generate().unwrap().public(), keys.public(), "fresh randomness each time");
    }

    #[test]
    fn a_key_file_whose_name_is_not_its_secrets_public_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = KeyFile::new(&KeyPair::from_seed(1, 0));
        file.name = KeyPair::from_seed(1, 1).public().to_hex();
        let path = write(dir.path(), "k.json", &serde_json::to_string(&file).unwrap());
        let error = KeyFile::load(&path).unwrap_err().to_string();
        assert!(error.contains("k.json") && error.contains("`name`"), "{error}");
    }

    #[test]
    fn committee_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("committee.json");
        committee(4).write(&path).unwrap();
        let loaded = CommitteeConfig::load(&path).unwrap();
        assert_eq!(loaded, committee(4));
        assert_eq!(loaded.committee().size(), 4);
        assert_eq!(loaded.id_of(&KeyPair::from_seed(1, 2).public()), Some(hotstuff_core::NodeId(2)));
    }

    /// Loads `text` as a committee file and returns the error, which must name the file.
    fn committee_error(dir: &Path, text: &str) -> String {
        let path = write(dir, "committee.json", text);
        let error = CommitteeConfig::load(&path).expect_err(text).to_string();
        assert!(error.contains("committee.json"), "the error names the file: {error}");
        error
    }

    /// The JSON text of the 2-member test committee, with `edit` applied to its entries.
    fn committee_text(edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> String {
        let mut value = serde_json::to_value(committee(2)).unwrap();
        edit(value["nodes"].as_array_mut().unwrap());
        value.to_string()
    }

    #[test]
    fn a_committee_file_that_is_not_json_is_refused_with_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let error = committee_error(dir.path(), r#"{ "nodes": [ { "name": "#);
        assert!(error.contains("line 1 column"), "{error}");
        let error = committee_error(dir.path(), "");
        assert!(error.contains("EOF"), "{error}");
    }

    #[test]
    fn a_missing_or_unknown_committee_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = committee_text(|nodes| {
            nodes[1].as_object_mut().unwrap().remove("transactions");
        });
        let error = committee_error(dir.path(), &text);
        assert!(error.contains("missing field `transactions`"), "{error}");
        let error = committee_error(dir.path(), "{}");
        assert!(error.contains("missing field `nodes`"), "{error}");
        let text = committee_text(|nodes| nodes[0]["transaction"] = "127.0.0.1:9".into());
        let error = committee_error(dir.path(), &text);
        assert!(error.contains("unknown field `transaction`"), "{error}");
    }

    #[test]
    fn a_bad_address_or_name_is_named_with_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        for (field, value) in [
            ("address", "localhost:7000"),
            ("address", "127.0.0.1"),
            ("transactions", "127.0.0.1:70000"),
            ("name", "00"),
            ("name", "not hex"),
        ] {
            let text = committee_text(|nodes| nodes[1][field] = value.into());
            let error = committee_error(dir.path(), &text);
            assert!(error.contains(&format!("nodes[1]: field `{field}`")), "{field} = {value:?}: {error}");
        }
        let text = committee_text(|nodes| nodes[0]["address"] = 7000.into());
        let error = committee_error(dir.path(), &text);
        assert!(error.contains("invalid type: integer `7000`, expected a string"), "{error}");
    }

    #[test]
    fn a_committee_with_a_repeated_key_or_address_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = committee(3);
        c.nodes[2].name = c.nodes[0].name;
        let error = committee_error(dir.path(), &serde_json::to_string(&c).unwrap());
        assert!(error.contains("nodes[2].name repeats nodes[0].name"), "{error}");

        let mut c = committee(3);
        c.nodes[1].address = c.nodes[0].address;
        let error = committee_error(dir.path(), &serde_json::to_string(&c).unwrap());
        assert!(error.contains("nodes[1].address") && error.contains("nodes[0].address"), "{error}");

        // One socket cannot serve both peers and clients, even across entries.
        let mut c = committee(3);
        c.nodes[2].transactions = c.nodes[1].address;
        let error = committee_error(dir.path(), &serde_json::to_string(&c).unwrap());
        assert!(error.contains("nodes[2].transactions") && error.contains("nodes[1].address"), "{error}");
    }

    #[test]
    fn an_empty_committee_or_port_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = committee_error(dir.path(), r#"{ "nodes": [] }"#);
        assert!(error.contains("field `nodes`"), "{error}");
        let mut c = committee(2);
        c.nodes[1].transactions.set_port(0);
        let error = committee_error(dir.path(), &serde_json::to_string(&c).unwrap());
        assert!(error.contains("nodes[1].transactions") && error.contains("port 0"), "{error}");
    }

    #[test]
    fn a_key_file_with_a_bad_secret_or_name_is_refused_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let good = KeyFile::new(&KeyPair::from_seed(1, 0));
        for (field, file, expected) in [
            ("secret", KeyFile { secret: good.secret[..62].to_string(), ..good.clone() }, "32 bytes"),
            ("secret", KeyFile { secret: format!("{}00", good.secret), ..good.clone() }, "32 bytes"),
            ("secret", KeyFile { secret: "zz".repeat(32), ..good.clone() }, "Invalid character"),
            ("name", KeyFile { name: good.name[..62].to_string(), ..good.clone() }, "32 bytes"),
        ] {
            let path = write(dir.path(), "k.json", &serde_json::to_string(&file).unwrap());
            let error = KeyFile::load(&path).unwrap_err().to_string();
            assert!(
                error.contains("k.json")
                    && error.contains(&format!("field `{field}`"))
                    && error.contains(expected),
                "{error}"
            );
        }
        for (text, expected) in
            [(r#"{ "name": "00" "#, "line 1 column"), (r#"{ "name": "00" }"#, "missing field `secret`")]
        {
            let path = write(dir.path(), "k.json", text);
            let error = KeyFile::load(&path).unwrap_err().to_string();
            assert!(error.contains("k.json") && error.contains(expected), "{error}");
        }
        let error = KeyFile::load(&dir.path().join("absent.json")).unwrap_err().to_string();
        assert!(error.contains("absent.json"), "{error}");
    }

    #[test]
    fn bad_or_invalid_parameters_are_refused_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "p.json", r#"{ "round_timeout_ms": 2000, "round_timout_ms_max": 1 }"#);
        let error = super::load_parameters(&path).unwrap_err().to_string();
        assert!(error.contains("p.json") && error.contains("round_timout_ms_max"), "{error}");
        let path = write(dir.path(), "q.json", r#"{ "max_block_delay_ms": 5000 }"#);
        let error = super::load_parameters(&path).unwrap_err().to_string();
        assert!(error.contains("q.json") && error.contains("max_block_delay_ms"), "{error}");
        for (text, expected) in [
            (r#"{ "round_timeout_ms": 0 }"#, "round_timeout_ms must be positive"),
            (r#"{ "batch_size_bytes": 100000000 }"#, "batch_size_bytes"),
            (r#"{ "max_block_batches": 0 }"#, "max_block_batches"),
            (r#"{ "round_timeout_ms": "fast" }"#, "expected u64"),
            (r#"{ "commit_rule": "FourChain" }"#, "unknown variant `FourChain`"),
            (r#"{ "round_timeout_ms": 2000, }"#, "trailing comma"),
        ] {
            let path = write(dir.path(), "s.json", text);
            let error = super::load_parameters(&path).unwrap_err().to_string();
            assert!(error.contains("s.json") && error.contains(expected), "{text}: {error}");
        }
        let path = write(dir.path(), "r.json", r#"{ "commit_rule": "ThreeChain" }"#);
        assert_eq!(super::load_parameters(&path).unwrap().commit_rule, hotstuff_core::CommitRule::ThreeChain);
    }
}
