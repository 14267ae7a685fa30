//! `perf_config.toml`: runtime tuning that redis.conf has no names for
//! (shards, buffer sizes, mesh sizing). A malformed file fails the start.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerfConfig {
    /// Shard executors; 0 means one per CPU the process may use.
    #[serde(default)]
    pub shards: usize,
    /// Initial per-connection read buffer, in bytes.
    #[serde(default = "default_read_buffer")]
    pub read_buffer_bytes: usize,
    /// Capacity of each cross-shard channel, in messages.
    #[serde(default = "default_mesh_capacity")]
    pub mesh_channel_capacity: usize,
    /// Busy-poll this long before an idle executor parks (0: never).
    #[serde(default)]
    pub spin_before_park_us: u64,
    /// Pin shard i to CPU i when shards <= CPUs.
    #[serde(default = "default_true")]
    pub pin_shards: bool,
}

fn default_read_buffer() -> usize {
    16 * 1024
}

fn default_mesh_capacity() -> usize {
    1024
}

fn default_true() -> bool {
    true
}

impl Default for PerfConfig {
    fn default() -> Self {
        PerfConfig {
            shards: 0,
            read_buffer_bytes: default_read_buffer(),
            mesh_channel_capacity: default_mesh_capacity(),
            spin_before_park_us: 0,
            pin_shards: true,
        }
    }
}

impl PerfConfig {
    /// Reads `path`; a missing default file means defaults, a missing
    /// explicit file or a malformed one is an error.
    pub fn load(path: &str, explicit: bool) -> Result<PerfConfig, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(PerfConfig::default()),
            Err(e) => return Err(format!("cannot read perf config {path}: {e}")),
        };
        let config: PerfConfig = toml::from_str(&text).map_err(|e| format!("malformed perf config {path}: {e}"))?;
        if config.read_buffer_bytes < 512 || config.read_buffer_bytes > 64 << 20 {
            return Err(format!(
                "malformed perf config {path}: read_buffer_bytes must be 512..=67108864"
            ));
        }
        if config.mesh_channel_capacity < 16 {
            return Err(format!(
                "malformed perf config {path}: mesh_channel_capacity must be >= 16"
            ));
        }
        if config.shards > 1024 {
            return Err(format!("malformed perf config {path}: shards must be 0..=1024"));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_files_fail() {
        let dir = std::env::temp_dir().join(format!("tessera-perf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.toml");
        std::fs::write(&path, "shards = \"two\"\n").unwrap();
        assert!(PerfConfig::load(path.to_str().unwrap(), true).is_err());
        std::fs::write(&path, "shardz = 2\n").unwrap();
        assert!(PerfConfig::load(path.to_str().unwrap(), true).is_err());
        std::fs::write(&path, "shards = 2\n").unwrap();
        assert_eq!(PerfConfig::load(path.to_str().unwrap(), true).unwrap().shards, 2);
        assert!(PerfConfig::load("/nonexistent/perf.toml", true).is_err());
        assert!(PerfConfig::load("/nonexistent/perf.toml", false).is_ok());
    }
}
