//! Command metadata as Redis publishes it: a typed RESP3 value tree loaded
//! from `redis_commands.json`, written back in RESP2 or RESP3 exactly as
//! Redis would (maps become flat arrays and sets arrays in RESP2).

use crate::resp::ReplyBuf;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq)]
pub enum RespValue {
    Bulk(String),
    Simple(String),
    Int(i64),
    Array(Vec<RespValue>),
    Set(Vec<RespValue>),
    Map(Vec<(RespValue, RespValue)>),
    Null,
}

impl RespValue {
    fn from_json(value: &serde_json::Value) -> RespValue {
        use serde_json::Value as J;
        match value {
            J::String(s) => RespValue::Bulk(s.clone()),
            J::Number(n) => RespValue::Int(n.as_i64().expect("integer")),
            J::Array(items) => RespValue::Array(items.iter().map(RespValue::from_json).collect()),
            J::Null => RespValue::Null,
            J::Object(object) => {
                if let Some(J::String(s)) = object.get("s") {
                    RespValue::Simple(s.clone())
                } else if let Some(J::Array(items)) = object.get("set") {
                    RespValue::Set(items.iter().map(RespValue::from_json).collect())
                } else if let Some(J::Array(pairs)) = object.get("m") {
                    RespValue::Map(
                        pairs
                            .iter()
                            .map(|pair| (RespValue::from_json(&pair[0]), RespValue::from_json(&pair[1])))
                            .collect(),
                    )
                } else {
                    panic!("unexpected metadata object {object:?}")
                }
            }
            J::Bool(_) => panic!("unexpected boolean in metadata"),
        }
    }

    pub fn as_array(&self) -> Option<&Vec<RespValue>> {
        match self {
            RespValue::Array(items) | RespValue::Set(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            RespValue::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            RespValue::Bulk(s) | RespValue::Simple(s) => Some(s),
            _ => None,
        }
    }

    pub fn map_get(&self, key: &str) -> Option<&RespValue> {
        match self {
            RespValue::Map(pairs) => pairs.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn map_get_mut(&mut self, key: &str) -> Option<&mut RespValue> {
        match self {
            RespValue::Map(pairs) => pairs.iter_mut().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Writes the value in the buffer's protocol.
    pub fn write(&self, out: &mut ReplyBuf) {
        match self {
            RespValue::Bulk(s) => out.bulk(s.as_bytes()),
            RespValue::Simple(s) => out.simple(s),
            RespValue::Int(n) => out.int(*n),
            RespValue::Null => out.null(),
            RespValue::Array(items) => {
                out.array(items.len());
                items.iter().for_each(|item| item.write(out));
            }
            RespValue::Set(items) => {
                out.set(items.len());
                items.iter().for_each(|item| item.write(out));
            }
            RespValue::Map(pairs) => {
                out.map(pairs.len());
                for (k, v) in pairs {
                    k.write(out);
                    v.write(out);
                }
            }
        }
    }
}

/// Loads every command's (COMMAND INFO entry, COMMAND DOCS entry), by name.
pub fn load() -> HashMap<String, (RespValue, Option<RespValue>)> {
    let text = include_str!("redis_commands.json");
    let json: serde_json::Value = serde_json::from_str(text).expect("redis_commands.json is valid JSON");
    let mut out = HashMap::new();
    for (name, entry) in json["commands"].as_object().expect("commands object") {
        let info = RespValue::from_json(&entry["info"]);
        let docs = match &entry["docs"] {
            serde_json::Value::Null => None,
            docs => Some(RespValue::from_json(docs)),
        };
        // Subcommands are listed inside their container's INFO and DOCS.
        if let Some(subs) = info.as_array().and_then(|a| a.get(9)).and_then(|s| s.as_array()) {
            for sub in subs {
                let sub_name = sub
                    .as_array()
                    .and_then(|a| a[0].as_str())
                    .expect("subcommand name")
                    .to_string();
                let sub_docs = docs
                    .as_ref()
                    .and_then(|d| d.map_get("subcommands"))
                    .and_then(|s| s.map_get(&sub_name))
                    .cloned();
                out.insert(sub_name, (sub.clone(), sub_docs));
            }
        }
        out.insert(name.clone(), (info, docs));
    }
    out
}
