//! Scopes (read / write / admin) and resources (`project:alpha`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// What a gateway request needs: reads for safe methods, writes otherwise.
    pub fn for_method(method: &str) -> Scope {
        match method {
            "GET" | "HEAD" | "OPTIONS" => Scope::Read,
            _ => Scope::Write,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown scope \"{s}\"; expected read, write or admin"))
    }
}

/// The scopes granted to a key. `admin` is account management and includes
/// `read` and `write`; `read` and `write` are independent (a write-only
/// ingest key is legitimate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// Sorted, de-duplicated.
    pub fn new(mut scopes: Vec<Scope>) -> Self {
        scopes.sort();
        scopes.dedup();
        Self(scopes)
    }

    pub fn grants(&self, needed: Scope) -> bool {
        self.0.contains(&needed) || self.0.contains(&Scope::Admin)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Scope] {
        &self.0
    }

    /// `read,write`: the storage form.
    pub fn to_csv(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn from_csv(s: &str) -> Result<Self, String> {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    #[error("a resource is written kind:name, e.g. project:alpha")]
    MissingColon,
    #[error(
        "a resource kind is 1 to 32 lowercase letters, digits, '-' or '_', starting with a letter"
    )]
    BadKind,
    #[error("a resource name is 1 to 64 letters, digits, '.', '-' or '_'")]
    BadName,
}

/// A resource a key is limited to, `kind:name`. On the gateway, `project:alpha`
/// owns the path `/projects/alpha` and everything below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resource {
    kind: String,
    name: String,
}

impl FromStr for Resource {
    type Err = ResourceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = s.split_once(':').ok_or(ResourceError::MissingColon)?;
        let kb = kind.as_bytes();
        let kind_ok = (1..=32).contains(&kb.len())
            && kb[0].is_ascii_lowercase()
            && kb
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_');
        if !kind_ok {
            return Err(ResourceError::BadKind);
        }
        let name_ok = (1..=64).contains(&name.len())
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
        if !name_ok {
            return Err(ResourceError::BadName);
        }
        Ok(Self {
            kind: kind.into(),
            name: name.into(),
        })
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.name)
    }
}

impl Resource {
    /// `/projects/alpha`: the path this resource owns on the gateway.
    pub fn path_root(&self) -> String {
        format!("/{}s/{}", self.kind, self.name)
    }

    /// True for the root itself and anything below it (`/projects/alpha/x`),
    /// never for a sibling that merely shares the prefix (`/projects/alphabet`).
    pub fn owns_path(&self, path: &str) -> bool {
        let root = self.path_root();
        match path.strip_prefix(root.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

/// Empty `granted` means "all resources".
pub fn resource_allowed(granted: &[Resource], wanted: &Resource) -> bool {
    granted.is_empty() || granted.contains(wanted)
}

/// Whether a gateway path is reachable with these resources. The path must
/// already be normalised (no `..` segments; the gateway refuses those).
pub fn path_allowed(granted: &[Resource], path: &str) -> bool {
    granted.is_empty() || granted.iter().any(|r| r.owns_path(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_includes_read_and_write() {
        let admin = ScopeSet::new(vec![Scope::Admin]);
        assert!(admin.grants(Scope::Read) && admin.grants(Scope::Write));
        let read = ScopeSet::new(vec![Scope::Read]);
        assert!(read.grants(Scope::Read));
        assert!(!read.grants(Scope::Write) && !read.grants(Scope::Admin));
        let write = ScopeSet::new(vec![Scope::Write]);
        assert!(!write.grants(Scope::Read));
    }

    #[test]
    fn scope_csv_round_trip() {
        let s = ScopeSet::new(vec![Scope::Write, Scope::Read, Scope::Write]);
        assert_eq!(s.to_csv(), "read,write");
        assert_eq!(ScopeSet::from_csv("read,write").unwrap(), s);
        assert!(ScopeSet::from_csv("read,root").is_err());
        assert!(ScopeSet::from_csv("").unwrap().is_empty());
    }

    #[test]
    fn methods_map_to_scopes() {
        assert_eq!(Scope::for_method("GET"), Scope::Read);
        assert_eq!(Scope::for_method("HEAD"), Scope::Read);
        assert_eq!(Scope::for_method("POST"), Scope::Write);
        assert_eq!(Scope::for_method("DELETE"), Scope::Write);
    }

    #[test]
    fn resource_parsing() {
        let r: Resource = "project:alpha".parse().unwrap();
        assert_eq!(r.to_string(), "project:alpha");
        assert_eq!(r.path_root(), "/projects/alpha");
        assert_eq!(
            "alpha".parse::<Resource>(),
            Err(ResourceError::MissingColon)
        );
        assert_eq!(
            "Project:alpha".parse::<Resource>(),
            Err(ResourceError::BadKind)
        );
        assert_eq!("project:".parse::<Resource>(), Err(ResourceError::BadName));
        assert_eq!(
            "project:a/b".parse::<Resource>(),
            Err(ResourceError::BadName)
        );
        assert_eq!(
            "project:..".parse::<Resource>(),
            Err(ResourceError::BadName)
        );
        assert!("domain:example.com".parse::<Resource>().is_ok());
    }

    #[test]
    fn path_ownership() {
        let alpha: Resource = "project:alpha".parse().unwrap();
        assert!(alpha.owns_path("/projects/alpha"));
        assert!(alpha.owns_path("/projects/alpha/items/3"));
        assert!(!alpha.owns_path("/projects/alphabet"));
        assert!(!alpha.owns_path("/projects/beta/items"));
        assert!(!alpha.owns_path("/health"));
        assert!(path_allowed(&[], "/anything"));
        assert!(!path_allowed(std::slice::from_ref(&alpha), "/projects"));
    }
}
