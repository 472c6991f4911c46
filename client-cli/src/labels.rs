//! The Chinese names `xf` prints for codes: enum values (decline grounds, channels, levels, states…), org
//! units and categories, from the dictionaries the last `xf sync` or `xf login` cached, so a name the
//! server changes shows without a new `xf`. Before the first fetch (or for a value the cache lacks) enum
//! values fall back to the labels `xinfang_proto` generates from the protos this `xf` was built with.
//!
//! The table is installed once per process, when the command opens its profile: every printer (tables,
//! pick lists, CSV columns) then reads it without the store being threaded through each of them.

use std::{collections::HashMap, sync::OnceLock};

use xinfang_proto::v1::Dictionaries;

/// The names of one dictionaries answer, indexed for lookup.
#[derive(Debug, Default, Clone)]
pub struct Labels {
    /// enum full name (`xinfang.v1.DeclineGround`) → value number → label.
    enums: HashMap<String, HashMap<i32, String>>,
    orgs: HashMap<String, String>,
    categories: HashMap<String, String>,
}

impl Labels {
    pub fn from_dictionaries(d: &Dictionaries) -> Self {
        let mut enums: HashMap<String, HashMap<i32, String>> = HashMap::new();
        // An empty label says nothing: the built-in one stays in force for that value.
        for l in d.enum_labels.iter().filter(|l| !l.label.is_empty()) {
            enums
                .entry(l.enum_name.clone())
                .or_default()
                .insert(l.number, l.label.clone());
        }
        Labels {
            enums,
            orgs: d
                .org_units
                .iter()
                .map(|o| (o.code.clone(), o.name.clone()))
                .collect(),
            categories: d
                .categories
                .iter()
                .map(|c| (c.code.clone(), c.name.clone()))
                .collect(),
        }
    }

    /// The server's label of an enum value, if the cache has one.
    pub fn enum_label(&self, enum_name: &str, number: i32) -> Option<&str> {
        self.enums.get(enum_name)?.get(&number).map(String::as_str)
    }

    pub fn org_name(&self, code: &str) -> Option<&str> {
        self.orgs.get(code).map(String::as_str)
    }

    pub fn category_name(&self, code: &str) -> Option<&str> {
        self.categories.get(code).map(String::as_str)
    }
}

static CURRENT: OnceLock<Labels> = OnceLock::new();

/// Makes `labels` the process's names. The first call wins: `xf` installs the cache once, at start, and a
/// refresh during the same command only shows from the next one.
pub fn install(labels: Labels) {
    let _ = CURRENT.set(labels);
}

/// The installed names; `None` when nothing is cached (or in a library user that never installs any).
pub fn current() -> Option<&'static Labels> {
    CURRENT.get()
}

/// The label of an enum value: the cached server's, else `builtin` (the proto's, compiled in).
pub fn enum_label(enum_name: &str, number: i32, builtin: &'static str) -> &'static str {
    current()
        .and_then(|l| l.enum_label(enum_name, number))
        .unwrap_or(builtin)
}

/// The name of an org unit code from the cache; empty when unknown or nothing is cached.
pub fn org_name(code: &str) -> &'static str {
    current().and_then(|l| l.org_name(code)).unwrap_or("")
}

/// The name of a category code from the cache; empty when unknown or nothing is cached.
pub fn category_name(code: &str) -> &'static str {
    current().and_then(|l| l.category_name(code)).unwrap_or("")
}

/// The names the library's unit tests share: the table is one per process, so every test that needs one
/// installs this same set (a relabelled decline ground and one township), whichever runs first.
#[cfg(test)]
pub(crate) fn install_for_tests() {
    use xinfang_proto::v1::{DeclineGround, EnumLabel, OrgUnit};
    install(Labels::from_dictionaries(&Dictionaries {
        enum_labels: vec![EnumLabel {
            enum_name: "xinfang.v1.DeclineGround".into(),
            number: DeclineGround::Leapfrog as i32,
            value_name: "DECLINE_GROUND_LEAPFROG".into(),
            label: "越级走访（服务器改名）".into(),
        }],
        org_units: vec![OrgUnit {
            code: "510422100".into(),
            name: "测试镇".into(),
            ..Default::default()
        }],
        ..Default::default()
    }));
}

#[cfg(test)]
mod tests {
    use xinfang_proto::v1::{Category, EnumLabel, OrgUnit};

    use super::*;

    #[test]
    fn the_servers_names_are_indexed_and_an_empty_label_is_ignored() {
        let d = Dictionaries {
            enum_labels: vec![
                EnumLabel {
                    enum_name: "xinfang.v1.DeclineGround".into(),
                    number: 1,
                    value_name: "X".into(),
                    label: "新名称".into(),
                },
                EnumLabel {
                    enum_name: "xinfang.v1.Level".into(),
                    number: 2,
                    value_name: "LEVEL_COUNTY".into(),
                    label: String::new(),
                },
            ],
            org_units: vec![OrgUnit {
                code: "510422100".into(),
                name: "某镇".into(),
                ..Default::default()
            }],
            categories: vec![Category {
                code: "land".into(),
                name: "征地拆迁".into(),
            }],
            ..Default::default()
        };
        let l = Labels::from_dictionaries(&d);
        assert_eq!(l.enum_label("xinfang.v1.DeclineGround", 1), Some("新名称"));
        assert_eq!(l.enum_label("xinfang.v1.Level", 2), None);
        assert_eq!(l.org_name("510422100"), Some("某镇"));
        assert_eq!(l.category_name("land"), Some("征地拆迁"));
        assert_eq!(l.category_name("none"), None);
    }
}
