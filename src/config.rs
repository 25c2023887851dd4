//! The TOML file of `nerve train`: `[data]`, `[model]`, `[train]`, composed
//! from the parts' own config structs (`data::config`, `models`,
//! `train::config`, `optim::config`).
//!
//! Reading a config checks every key against the structs (an unknown key
//! gets the nearest valid one suggested), every type, and every range, and
//! names the file and the field in each message.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::bail;
use crate::data::config::DataConfig;
use crate::error::{Error, Result};
use crate::models::ModelConfig;
use crate::schema::{check_keys, read, Source};
use crate::train::config::TrainConfig;

pub use crate::schema::suggest;
pub use crate::train::config::EarlyStopping;

/// A whole training config.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Config {
    /// The run's name (default: the config file's stem); the run directory is `runs/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `[data]`: where the examples come from.
    pub data: DataConfig,
    /// `[model]`: the architecture.
    pub model: ModelConfig,
    /// `[train]`: optimizer, schedule, epochs, checkpoints.
    pub train: TrainConfig,
}

/// The top level of the file: which sections there are (serde's own list).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Sections {
    name: Option<String>,
    data: toml::Value,
    model: toml::Value,
    train: Option<toml::Value>,
}

impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Config, D::Error> {
        let t = toml::Table::deserialize(d)?;
        Config::from_table(t, &Source::NONE).map_err(serde::de::Error::custom)
    }
}

/// A section as a table, or an error naming what it is instead.
fn section(doc: &mut toml::Table, name: &str, required: bool) -> Result<toml::Table> {
    match doc.remove(name) {
        Some(toml::Value::Table(t)) => Ok(t),
        Some(other) => bail!("[{name}] must be a table, found {}", other.type_str()),
        None if required => bail!("missing section [{name}]"),
        None => Ok(toml::Table::new()),
    }
}

impl Config {
    /// Builds a config from a parsed TOML table.
    pub fn from_table(mut doc: toml::Table, src: &Source) -> Result<Config> {
        check_keys(&doc, crate::schema::fields_of::<Sections>(), "")?;
        let name = match doc.remove("name") {
            None => None,
            Some(v) => Some(read::<String>(v, "name", src)?),
        };
        let data = section(&mut doc, "data", true)?;
        let model = section(&mut doc, "model", true)?;
        let train = section(&mut doc, "train", false)?;
        Ok(Config {
            name,
            data: read(toml::Value::Table(data), "data", src)?,
            model: ModelConfig::from_table(model, src)?,
            train: TrainConfig::from_table(train, src)?,
        })
    }

    /// Parses and validates config text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Config> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::new(format!("{source}: {}", e.to_string().trim_end()))
        })?;
        let src = Source {
            name: source,
            text: Some(text),
        };
        let cfg = Config::from_table(doc, &src).map_err(|e| e.context(source))?;
        cfg.validate().map_err(|e| e.context(source))?;
        Ok(cfg)
    }

    /// Reads and validates a config file.
    pub fn load(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(format!(
                "cannot read config {}: {}",
                path.display(),
                crate::error::describe_io(&e)
            ))
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Checks every part, then what they must agree on.
    pub fn validate(&self) -> Result<()> {
        self.data.validate()?;
        self.model.validate()?;
        self.train.validate()?;
        if let Some(seq) = self.model.sequential() {
            let regression_targets = self.data.target_columns.is_some();
            if regression_targets && seq.task.as_deref().is_some_and(|t| t != "regression") {
                bail!(
                    "data.target_columns makes a regression, but model.task is \"{}\"; set model.task = \"regression\" or use data.label_column for classes",
                    seq.task.as_deref().unwrap_or_default()
                );
            }
        }
        if self.train.early_stopping.is_some() && self.data.val_fraction == 0.0 {
            bail!("train.early_stopping needs a validation set: set data.val_fraction > 0");
        }
        Ok(())
    }

    /// The run's name: `name`, else the config file's stem.
    pub fn run_name(&self, config_path: &Path) -> String {
        self.name.clone().unwrap_or_else(|| {
            config_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into())
        })
    }

    /// A copy whose file paths (data.path, data.test_path, train.init_from)
    /// are absolute, resolved against `config_dir` as training resolves them:
    /// the config saved in a run directory then works from anywhere.
    pub fn with_resolved_paths(&self, config_dir: &Path) -> Config {
        let fix = |p: &Option<String>| {
            p.as_ref().map(|p| {
                let r = resolve_path(p, config_dir);
                std::fs::canonicalize(&r).unwrap_or(r).display().to_string()
            })
        };
        let mut c = self.clone();
        if c.data.dataset == "mnist" && c.data.path.is_none() {
            c.data.path = Some("data/mnist".into());
        }
        c.data.path = fix(&c.data.path);
        c.data.test_path = fix(&c.data.test_path);
        c.train.init_from = fix(&c.train.init_from);
        c
    }

    /// Serialises back to TOML (the resolved config saved in the run directory).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a Config always serialises")
    }
}

/// Resolves a data path from a config: relative to the config's directory if
/// it exists there, else relative to the current directory.
pub fn resolve_path(p: &str, config_dir: &Path) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let beside = config_dir.join(path);
    if beside.exists() {
        beside
    } else {
        path.to_path_buf()
    }
}
