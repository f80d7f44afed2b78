//! The Basic scheme's configuration.

/// Configuration of [`Basic`](super::Basic).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct BasicConfig {
    /// The `realm` of the challenge (RFC 7617 section 2). Default `"api"`.
    pub realm: String,
}

impl Default for BasicConfig {
    fn default() -> Self {
        BasicConfig { realm: "api".into() }
    }
}
