//! The authorization endpoint as a browser without JavaScript drives it:
//! cookies kept and sent back, forms submitted with their hidden fields, and
//! the redirects read.

use std::collections::BTreeMap;

use crate::{Answer, TestEnv};

/// Cookies, kept as a browser keeps them.
#[derive(Default)]
pub struct Browser {
    /// The cookies it holds, by name.
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    /// Keeps the cookies an answer sets (and forgets those it expires).
    pub fn keep(&mut self, answer: &Answer) {
        for set in answer.header_all("set-cookie") {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// The `Cookie` header it sends.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A GET of `path` with its cookies.
    pub async fn get(&mut self, env: &TestEnv, path: &str) -> Answer {
        let answer = env
            .request("GET", path)
            .header("cookie", &self.cookie_header())
            .send()
            .await;
        self.keep(&answer);
        answer
    }

    /// Submits the form on `page` as a browser does, with its hidden fields
    /// and its ticked boxes, plus `extra`, to the path of its `action`.
    pub async fn submit(&mut self, env: &TestEnv, page: &Answer, extra: &[(&str, &str)]) -> Answer {
        let mut fields = hidden_fields(&page.body);
        fields.extend(ticked_boxes(&page.body));
        for (name, value) in extra {
            fields.retain(|(n, _)| n != name);
            fields.push((name.to_string(), value.to_string()));
        }
        let action = page
            .body
            .split_once("action=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(action, _)| action.replace("&amp;", "&"))
            .expect("the page has a form");
        let path = action
            .find("/o/")
            .map_or("/o/authorize/", |at| &action[at..])
            .to_owned();
        self.post_form_to(env, &path, &fields).await
    }

    /// Signs out as a person does: the sign-out form of `/o/logout/`, then
    /// its submission; the answer to the submission, and the form.
    pub async fn sign_out(&mut self, env: &TestEnv) -> (Answer, Answer) {
        let form = self.get(env, "/o/logout/").await;
        let csrf = hidden_fields(&form.body)
            .into_iter()
            .find(|(n, _)| n == "csrf")
            .expect("the sign-out form carries a CSRF token")
            .1;
        let out = env
            .post("/o/logout/", &format!("csrf={csrf}"))
            .header("cookie", &self.cookie_header())
            .send()
            .await;
        self.keep(&out);
        (out, form)
    }

    /// A POST of `fields` to `/o/authorize/` with its cookies.
    pub async fn post_form(&mut self, env: &TestEnv, fields: &[(String, String)]) -> Answer {
        self.post_form_to(env, "/o/authorize/", fields).await
    }

    /// A POST of `fields` to `path` with its cookies.
    pub async fn post_form_to(&mut self, env: &TestEnv, path: &str, fields: &[(String, String)]) -> Answer {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", shared::form::encode(k), shared::form::encode(v)))
            .collect();
        let answer = env
            .post(path, &body.join("&"))
            .header("cookie", &self.cookie_header())
            .send()
            .await;
        self.keep(&answer);
        answer
    }
}

/// The hidden inputs of a page, unescaped.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|rest| {
            let attr = |name: &str| {
                let start = rest.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                let end = start + rest[start..].find('"').unwrap();
                rest[start..end]
                    .replace("&quot;", "\"")
                    .replace("&#39;", "'")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&")
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

/// The ticked checkboxes of a page (those with a name), as (name, value).
pub fn ticked_boxes(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"checkbox\" ")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
                Some(tag[start..start + tag[start..].find('"')?].replace("&amp;", "&"))
            };
            tag.contains(" checked")
                .then(|| Some((attr("name")?, attr("value")?)))
                .flatten()
        })
        .collect()
}

/// The query parameters of a redirect's `Location`.
pub fn redirected(answer: &Answer, to: &str) -> BTreeMap<String, String> {
    let location = answer
        .header("location")
        .unwrap_or_else(|| panic!("no redirect: {} {}", answer.status, answer.body));
    let query = location
        .strip_prefix(&format!("{to}?"))
        .unwrap_or_else(|| panic!("{location}"));
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_owned(), shared::form::decode(v.as_bytes()).unwrap())
        })
        .collect()
}
