//! An HTTP upstream's rules: a method (or any) and a path pattern, each
//! with a [`Rule`], checked in the file's order; the first that matches
//! decides, and a request that matches none is denied.
//!
//! A pattern is literal segments, `*` for exactly one segment, and `**` as
//! the last segment for any rest (one segment or more). Only the path is
//! matched, never the query string.
//!
//! A path that is not in normal form cannot be matched safely (an
//! upstream may read `/a/../admin` or `/a%2Fb` differently than a pattern
//! does), so it matches no rule: `.` or `..` segments, empty segments,
//! percent-encoded `/`, `\` or `.`, a backslash. Envoy's `normalize_path`,
//! `merge_slashes` and `path_with_escaped_slashes_action` should normalise
//! or reject such paths before they reach the gate (docs/gate.md).

use authpair_claims::Rule;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    One,
    /// `**`, last: one segment or more.
    Rest,
}

/// A path pattern, such as `/v1/items/*` or `/static/**`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<Segment>,
}

impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => write!(f, "/{literal}")?,
                Segment::One => f.write_str("/*")?,
                Segment::Rest => f.write_str("/**")?,
            }
        }
        Ok(())
    }
}

impl PathPattern {
    /// Parses `pattern`, refusing what could never match a normal path.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let rest = pattern.strip_prefix('/').ok_or("a path pattern starts with /")?;
        if rest.is_empty() {
            return Ok(Self { segments: Vec::new() });
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "*" => Segment::One,
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err("** may only be the last segment".into()),
                _ if part.contains('*') => return Err(format!("{part:?}: * stands for a whole segment")),
                _ if normal_segment(part) => Segment::Literal((*part).to_owned()),
                _ => return Err(format!("{part:?} is not a segment of a normal path")),
            });
        }
        Ok(Self { segments })
    }

    /// Whether the segments of a normal path (see [`normal_path`]) match.
    fn matches<'p>(&self, mut path: impl Iterator<Item = &'p str>) -> bool {
        for segment in &self.segments {
            match (segment, path.next()) {
                (Segment::Rest, Some(_)) => return true,
                (Segment::One, Some(_)) => {}
                (Segment::Literal(literal), Some(part)) if literal == part => {}
                _ => return false,
            }
        }
        path.next().is_none()
    }
}

/// Whether `segment` may appear in a normal path.
fn normal_segment(segment: &str) -> bool {
    if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\') {
        return false;
    }
    // No percent-encoded `/`, `\` or `.`, in either case.
    !segment
        .as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && matches!((w[1], w[2].to_ascii_lowercase()), (b'2', b'f' | b'e') | (b'5', b'c')))
}

/// `path` without its leading `/`, query string or fragment, or `None`
/// when it is not in normal form.
pub fn normal_path(path: &str) -> Option<&str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let rest = path.strip_prefix('/')?;
    (rest.is_empty() || rest.split('/').all(normal_segment)).then_some(rest)
}

/// The segments of a normal path as [`normal_path`] returns it (none for `/`).
fn segments(rest: &str) -> impl Iterator<Item = &str> {
    (!rest.is_empty()).then(|| rest.split('/')).into_iter().flatten()
}

/// One rule of the file.
#[derive(Debug, Clone)]
pub struct HttpRule {
    /// The method in capitals; `None` for any.
    pub method: Option<String>,
    pub path: PathPattern,
    pub rule: Rule,
}

/// A route's rules, in the file's order.
#[derive(Debug)]
pub struct HttpRules {
    rules: Vec<HttpRule>,
}

impl HttpRules {
    pub fn new(rules: Vec<HttpRule>) -> Self {
        Self { rules }
    }

    /// The first rule matching `method` and `path`, if any.
    pub fn rule(&self, method: &str, path: &str) -> Option<&Rule> {
        let rest = normal_path(path)?;
        self.rules
            .iter()
            .find(|r| r.method.as_deref().is_none_or(|m| m == method) && r.path.matches(segments(rest)))
            .map(|r| &r.rule)
    }

    /// Every rule, in order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|r| &r.rule)
    }

    /// Every rule named by its method and pattern (`GET /v1/items/*`).
    pub fn named(&self) -> impl Iterator<Item = (String, &Rule)> {
        self.rules.iter().map(|r| (format!("{} {}", r.method.as_deref().unwrap_or("*"), r.path), &r.rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(patterns: &[(&str, &str)]) -> Result<HttpRules, String> {
        let mut out = Vec::new();
        for (i, (method, path)) in patterns.iter().enumerate() {
            let rule = Rule { quota: Some(std::sync::Arc::from(i.to_string())), ..Rule::public() };
            let method = (*method != "*").then(|| (*method).to_owned());
            out.push(HttpRule { method, path: PathPattern::parse(path)?, rule });
        }
        Ok(HttpRules::new(out))
    }

    fn matched(rules: &HttpRules, method: &str, path: &str) -> Option<String> {
        rules.rule(method, path).and_then(|r| r.quota.as_deref().map(str::to_owned))
    }

    #[test]
    fn the_first_rule_whose_method_and_pattern_match_decides_and_the_query_is_ignored() -> Result<(), String> {
        let rules = rules(&[
            ("GET", "/v1/items/*"),
            ("*", "/v1/items/*/parts"),
            ("POST", "/v1/items"),
            ("*", "/static/**"),
            ("GET", "/"),
        ])?;
        assert_eq!(matched(&rules, "GET", "/v1/items/42").as_deref(), Some("0"));
        assert_eq!(matched(&rules, "GET", "/v1/items/42?admin=true#x").as_deref(), Some("0"));
        assert_eq!(matched(&rules, "DELETE", "/v1/items/42"), None, "no rule for that method");
        assert_eq!(matched(&rules, "PUT", "/v1/items/42/parts").as_deref(), Some("1"));
        assert_eq!(matched(&rules, "POST", "/v1/items").as_deref(), Some("2"));
        assert_eq!(matched(&rules, "GET", "/v1/items"), None);
        assert_eq!(matched(&rules, "GET", "/v1/items/42/other"), None, "* is one segment");
        assert_eq!(matched(&rules, "GET", "/static/a/b/c.css").as_deref(), Some("3"));
        assert_eq!(matched(&rules, "GET", "/static"), None, "** is at least one segment");
        assert_eq!(matched(&rules, "GET", "/").as_deref(), Some("4"));
        Ok(())
    }

    #[test]
    fn a_path_not_in_normal_form_matches_no_rule_not_even_a_wildcard() -> Result<(), String> {
        let rules = rules(&[("*", "/**"), ("*", "/*")])?;
        for path in [
            "/a/../admin",
            "/a/./b",
            "//admin",
            "/a//b",
            "/a/",
            "/a%2Fb",
            "/a%2fb",
            "/a%5Cb",
            "/%2e%2e/admin",
            "/a\\b",
            "relative",
            "",
        ] {
            assert_eq!(matched(&rules, "GET", path), None, "{path:?} matched");
        }
        assert_eq!(matched(&rules, "GET", "/a/b%20c").as_deref(), Some("0"), "other escapes are plain text");
        Ok(())
    }

    #[test]
    fn patterns_that_could_never_match_a_normal_path_are_refused() {
        for refused in ["v1/items", "/v1/**/items", "/v1/it*", "/v1//items", "/v1/../items", "/a%2Fb", "/a/"] {
            assert!(PathPattern::parse(refused).is_err(), "{refused:?} accepted");
        }
    }
}
