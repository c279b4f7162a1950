//! The README and `docs/` as a reader follows them: every relative link
//! leads to a file that exists and, with a `#fragment`, to a heading that
//! exists in it; every page of `docs/` is reachable from the README; every
//! `docs/*.md` the sources name exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// README.md and every page of docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The lines outside fenced code blocks.
fn outside_fences(markdown: &str) -> Vec<&str> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            lines.push(line);
        }
    }
    lines
}

/// The text outside fenced code blocks and inline code spans.
fn prose(markdown: &str) -> Vec<String> {
    outside_fences(markdown)
        .into_iter()
        .map(|line| line.split('`').step_by(2).collect())
        .collect()
}

/// The targets of the inline links `[text](target)` of a page.
fn links(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(markdown) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's anchors for a page's headings.
fn anchors(markdown: &str) -> BTreeSet<String> {
    outside_fences(markdown)
        .into_iter()
        .filter(|l| l.starts_with('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn every_relative_link_leads_somewhere() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let file = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(path)
            };
            if !file.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            }
            if !fragment.is_empty() {
                let linked = std::fs::read_to_string(&file).unwrap_or_default();
                if !anchors(&linked).contains(fragment) {
                    broken.push(format!("{}: {target} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_page_of_docs_is_linked_from_the_readme() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let linked: BTreeSet<String> = links(&readme).into_iter().collect();
    for page in pages().into_iter().skip(1) {
        let name = format!("docs/{}", page.file_name().unwrap().to_string_lossy());
        assert!(
            linked.iter().any(|l| l.split('#').next() == Some(name.as_str())),
            "{name} is not linked from the README"
        );
    }
}

#[test]
fn every_docs_page_the_sources_name_exists() {
    let mut named = BTreeSet::new();
    let mut dirs = vec![
        root().join("shared"),
        root().join("functions"),
        root().join("tests"),
        root().join("oauthctl"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "py") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (at, _) in text.match_indices("docs/") {
                    let name: String = text[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
                        .collect();
                    let page = name.trim_end_matches('.');
                    if page.ends_with(".md") {
                        named.insert((page.to_owned(), path.clone()));
                    }
                }
            }
        }
    }
    assert!(!named.is_empty(), "the sources name no docs page at all");
    for (page, source) in named {
        assert!(
            root().join(&page).exists(),
            "{} names {page}, which does not exist",
            source.display()
        );
    }
}

#[test]
fn the_link_reader_sees_links_and_headings_as_github_does() {
    let page = "# A heading (with `code`)\n## The sign-in lockout\n\
        see [this](a.md#b) and [that](c.md)\n```\n[not](a link)\n```\n`[nor](this)`";
    assert_eq!(links(page), ["a.md#b", "c.md"]);
    assert_eq!(
        anchors(page),
        ["a-heading-with-code", "the-sign-in-lockout"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}
