//! Scope rules: which scopes a method and path require.
//!
//! One rule a line (or `;`-separated): `METHOD PATTERN = SCOPE [SCOPE ...]`,
//! for example `GET /items/* = read`. `METHOD` is an HTTP method, or `*` /
//! `ANY` for all. `PATTERN` is a path where `*` matches any characters,
//! slashes included, exactly as in the IAM resource ARNs the policies use
//! (`/items/*` matches `/items/1` and `/items/1/tags`, not `/items`).
//!
//! A request must satisfy **every** rule that matches it: each rule adds its
//! scopes to what the request needs. A request no rule matches needs only an
//! active token, unless unmatched routes are denied (`DENY_UNMATCHED_ROUTES`):
//! then only routes some rule names are open at all. IAM evaluates policies
//! the same way (nothing allowed unless a statement allows it, and any
//! matching Deny wins), which is what lets one cached policy answer for every
//! route.
//!
//! Paths are matched exactly as API Gateway writes them in the method ARN:
//! no slash is collapsed or dropped and nothing is decoded, exactly as IAM
//! matches the policy built from the same rules, so the decision and the
//! policy never disagree. A variant spelling of a path (`/items/`, `//items`)
//! is another path: with unmatched routes denied, it is refused.

use shared::scope::{is_valid_scope_token, parse_scope, ScopeSet};

/// Every method API Gateway routes.
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The method, or `None` for any.
    method: Option<String>,
    /// The path pattern (`*` alone, or starting with `/`).
    pattern: String,
    /// Scopes a token needs, all of them.
    scopes: ScopeSet,
}

impl Rule {
    fn parse(text: &str) -> Result<Self, String> {
        let (target, scopes) = text
            .split_once('=')
            .ok_or_else(|| format!("rule {text:?} has no '=' before its scopes"))?;
        let mut words = target.split_whitespace();
        let (Some(method), Some(pattern), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("rule {text:?} must read METHOD PATH = SCOPES"));
        };
        let method = match method.to_ascii_uppercase().as_str() {
            "*" | "ANY" => None,
            m if METHODS.contains(&m) => Some(m.to_owned()),
            _ => {
                return Err(format!(
                    "rule {text:?}: {method:?} is not an HTTP method, * or ANY"
                ))
            }
        };
        let valid_path = pattern == "*"
            || (pattern.starts_with('/') && pattern.bytes().all(|b| b.is_ascii_graphic() && b != b'?'));
        if !valid_path {
            return Err(format!(
                "rule {text:?}: the path must be * or start with / (no spaces or '?')"
            ));
        }
        let scopes = parse_scope(scopes.trim())
            .map_err(|bad| format!("rule {text:?}: {bad:?} is not a valid scope name"))?;
        if scopes.is_empty() || !scopes.iter().all(|s| is_valid_scope_token(s)) {
            return Err(format!("rule {text:?} names no scope"));
        }
        Ok(Self {
            method,
            pattern: pattern.to_owned(),
            scopes,
        })
    }

    /// Whether the rule applies to `method` and `path` (which starts with `/`).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && glob_matches(&self.pattern, path)
    }

    /// The methods the rule covers, each as an ARN segment. "Any" is every
    /// method by name, never `*`: in an ARN, `*` would also swallow the
    /// slashes after it and reach paths the rule does not name.
    pub fn methods(&self) -> Vec<&str> {
        match &self.method {
            Some(method) => vec![method.as_str()],
            None => METHODS.to_vec(),
        }
    }

    /// The pattern as the ARN's trailing resource path (no leading `/`).
    pub fn resource_path(&self) -> &str {
        self.pattern.strip_prefix('/').unwrap_or(&self.pattern)
    }

    /// Whether a token with `scopes` meets this rule.
    pub fn met_by(&self, scopes: &ScopeSet) -> bool {
        self.scopes.is_subset(scopes)
    }
}

/// The rule list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    rules: Vec<Rule>,
    /// Whether a route no rule matches is refused rather than open to any
    /// active token.
    deny_unmatched: bool,
}

impl Rules {
    /// Parses rules, one a line or `;`-separated; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(['\n', ';'])
            .map(|line| line.split('#').next().unwrap_or("").trim())
            .filter(|line| !line.is_empty())
            .map(Rule::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(|rules| Rules {
                rules,
                deny_unmatched: false,
            })
    }

    /// Appends `other`'s rules.
    pub fn extend(&mut self, other: Rules) {
        self.rules.extend(other.rules);
    }

    /// Refuses routes no rule matches.
    pub fn deny_unmatched(&mut self) {
        self.deny_unmatched = true;
    }

    /// Whether routes no rule matches are refused.
    pub fn denies_unmatched(&self) -> bool {
        self.deny_unmatched
    }

    /// Whether there are no rules (any active token is allowed everywhere).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether a token with `scopes` may call `method` `path`.
    pub fn allows(&self, scopes: &ScopeSet, method: &str, path: &str) -> bool {
        let mut matching = self.rules.iter().filter(|r| r.matches(method, path)).peekable();
        if self.deny_unmatched && matching.peek().is_none() {
            return false;
        }
        matching.all(|r| r.met_by(scopes))
    }

    /// The rules a token with `scopes` meets.
    pub fn met<'a>(&'a self, scopes: &'a ScopeSet) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.met_by(scopes))
    }

    /// The rules a token with `scopes` does not meet.
    pub fn unmet<'a>(&'a self, scopes: &'a ScopeSet) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| !r.met_by(scopes))
    }
}

/// `*` matches any run of characters (slashes included); everything else is literal.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the last star swallow one more character.
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> ScopeSet {
        parse_scope(s).unwrap()
    }

    #[test]
    fn globs_match_like_iam() {
        assert!(glob_matches("/items/*", "/items/1"));
        assert!(glob_matches("/items/*", "/items/1/tags"));
        assert!(!glob_matches("/items/*", "/items"));
        assert!(glob_matches("*", "/"));
        assert!(glob_matches("/a/*/c", "/a/b/c"));
        assert!(glob_matches("/a/*/c", "/a/b/x/c"));
        assert!(!glob_matches("/a/*/c", "/a/b/cd"));
        assert!(glob_matches("/a*b*c", "/aXbYbZc"));
    }

    #[test]
    fn every_matching_rule_must_be_met() {
        let rules = Rules::parse("GET /items/* = read\nPOST /items = write; * /admin/* = admin # staff only")
            .unwrap();
        assert!(rules.allows(&scopes("read"), "GET", "/items/7"));
        assert!(!rules.allows(&scopes("write"), "GET", "/items/7"));
        assert!(rules.allows(&scopes("write"), "POST", "/items"));
        assert!(!rules.allows(&scopes("read"), "POST", "/items"));
        assert!(rules.allows(&scopes(""), "GET", "/health"));
        assert!(!rules.allows(&scopes("read write"), "DELETE", "/admin/users"));
        assert!(rules.allows(&scopes("admin"), "DELETE", "/admin/users"));
    }

    /// With unmatched routes denied, only what some rule names is open; the
    /// review's example: `DELETE /items/7` no longer needs just any token.
    #[test]
    fn unmatched_routes_may_be_denied() {
        let mut rules = Rules::parse("GET /items/* = read; POST /items = write").unwrap();
        assert!(rules.allows(&scopes("introspection"), "DELETE", "/items/7"));
        rules.deny_unmatched();
        assert!(!rules.allows(&scopes("read write"), "DELETE", "/items/7"));
        assert!(!rules.allows(&scopes("read write"), "POST", "/items/"));
        assert!(!rules.allows(&scopes("read write"), "POST", "//items"));
        assert!(rules.allows(&scopes("read"), "GET", "/items/7"));
        assert!(rules.allows(&scopes("write"), "POST", "/items"));
        assert!(!rules.allows(&scopes("read"), "POST", "/items"));
    }

    #[test]
    fn malformed_rules_are_refused() {
        for bad in [
            "GET /items",
            "GET = read",
            "FETCH /x = read",
            "GET items = read",
            "GET /x = ",
            "GET /a?b = read",
            "GET /x = a\"b",
        ] {
            assert!(Rules::parse(bad).is_err(), "{bad}");
        }
        assert!(Rules::parse("\n# nothing\n").unwrap().is_empty());
    }
}
