//! Key specs: where a command's keys are among its arguments, as Redis 7
//! describes them (begin_search + find_keys), applied without allocating.

use super::meta::RespValue;
use crate::resp::parse::parse_i64;
use crate::resp::Argv;

#[derive(Clone, Debug)]
enum BeginSearch {
    Index(i64),
    Keyword { keyword: String, startfrom: i64 },
    Unknown,
}

#[derive(Clone, Debug)]
enum FindKeys {
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

#[derive(Clone, Debug)]
pub struct KeySpec {
    begin: BeginSearch,
    find: FindKeys,
}

fn int_field(spec: Option<&RespValue>, name: &str) -> i64 {
    spec.and_then(|s| s.map_get(name)).and_then(|v| v.as_int()).unwrap_or(0)
}

impl KeySpec {
    pub fn from_metadata(value: &RespValue) -> KeySpec {
        let begin_map = value.map_get("begin_search");
        let begin_spec = begin_map.and_then(|b| b.map_get("spec"));
        let begin = match begin_map.and_then(|b| b.map_get("type")).and_then(|t| t.as_str()) {
            Some("index") => BeginSearch::Index(int_field(begin_spec, "index")),
            Some("keyword") => BeginSearch::Keyword {
                keyword: begin_spec
                    .and_then(|s| s.map_get("keyword"))
                    .and_then(|k| k.as_str())
                    .unwrap_or("")
                    .to_string(),
                startfrom: int_field(begin_spec, "startfrom"),
            },
            _ => BeginSearch::Unknown,
        };
        let find_map = value.map_get("find_keys");
        let find_spec = find_map.and_then(|f| f.map_get("spec"));
        let find = match find_map.and_then(|f| f.map_get("type")).and_then(|t| t.as_str()) {
            Some("range") => FindKeys::Range {
                lastkey: int_field(find_spec, "lastkey"),
                keystep: int_field(find_spec, "keystep"),
                limit: int_field(find_spec, "limit"),
            },
            Some("keynum") => FindKeys::Keynum {
                keynumidx: int_field(find_spec, "keynumidx"),
                firstkey: int_field(find_spec, "firstkey"),
                keystep: int_field(find_spec, "keystep"),
            },
            _ => FindKeys::Unknown,
        };
        KeySpec { begin, find }
    }

    /// Visits this spec's key indexes; false if the arguments do not fit it.
    pub fn for_each(&self, argv: &Argv, visit: &mut impl FnMut(usize)) -> bool {
        let argc = argv.len() as i64;
        let first = match &self.begin {
            BeginSearch::Index(i) => *i,
            BeginSearch::Keyword { keyword, startfrom } => {
                let (mut i, end, step) = if *startfrom >= 0 {
                    (*startfrom, argc, 1)
                } else {
                    (argc + startfrom, 0, -1)
                };
                let mut found = None;
                while (step > 0 && i < end) || (step < 0 && i > end) {
                    if i >= 0 && i < argc && argv.get(i as usize).eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = Some(i + 1);
                        break;
                    }
                    i += step;
                }
                match found {
                    Some(first) => first,
                    None => return true,
                }
            }
            BeginSearch::Unknown => return true,
        };
        if first >= argc {
            return true;
        }
        let (first, last, step) = match &self.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if *lastkey >= 0 {
                    first + lastkey
                } else if *limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, (*keystep).max(1))
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let index = first + keynumidx;
                if index >= argc {
                    return false;
                }
                let Some(numkeys) = parse_i64(argv.get(index as usize)) else {
                    return false;
                };
                // Checked: a huge numkeys (the handler's error to report)
                // must not overflow here.
                let start = first + firstkey;
                let last = (numkeys - 1)
                    .checked_mul(*keystep)
                    .and_then(|span| span.checked_add(start));
                match last {
                    Some(last) if numkeys > 0 && last < argc => (start, last, (*keystep).max(1)),
                    _ => return false,
                }
            }
            FindKeys::Unknown => return true,
        };
        if last >= argc || last < first {
            return last < first;
        }
        let mut i = first;
        while i <= last {
            visit(i as usize);
            i += step;
        }
        true
    }
}
