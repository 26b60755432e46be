//! Scanners for running text: the hashtags, `@user@host` mentions and bare URLs that the
//! renderer turns into links, and the hashtag a front matter tag becomes.
//!
//! This module owns which strings count as each of those and where they may start (`a#b` is not
//! a tag, `me@mail.example` is not a mention). It does not write HTML (see `super::render`) and
//! does not know whether the text sits in code or a link; the writer asks only where links are
//! allowed.

use url::Url;

use super::Mention;

/// Something in running text that becomes a link.
pub(super) enum Token {
    Tag(String),
    Mention(Mention),
    Url(Url),
}

/// The token at the start of `text` and its length in bytes, if one starts there. `prev` is the
/// visible character before it: a token glued to a word (`a#b`, `me@host`, `xhttp://`) is none.
pub(super) fn token_at(text: &str, prev: Option<char>) -> Option<(usize, Token)> {
    match text.chars().next()? {
        '#' if !prev.is_some_and(|p| p.is_alphanumeric() || "_#&/".contains(p)) => {
            hashtag_at(text).map(|(len, tag)| (len, Token::Tag(tag)))
        }
        '@' if !prev.is_some_and(|p| p.is_alphanumeric() || "_.@/".contains(p)) => {
            mention_at(text).map(|(len, m)| (len, Token::Mention(m)))
        }
        'h' | 'H' if !prev.is_some_and(|p| p.is_alphanumeric() || p == '/') => {
            bare_url_at(text).map(|(len, u)| (len, Token::Url(u)))
        }
        _ => None,
    }
}

/// `#tag` at the start of `s`: Unicode letters, digits and `_`, not only digits.
fn hashtag_at(s: &str) -> Option<(usize, String)> {
    let body = s.strip_prefix('#')?;
    let len: usize = body
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    let tag = &body[..len];
    if tag.is_empty() || tag.chars().all(char::is_numeric) {
        return None;
    }
    Some((1 + len, tag.to_string()))
}

/// `@user@host.tld` at the start of `s` (Mastodon's shape: the user is ASCII word characters,
/// dots and dashes, ending in a word character; the host has a dot and no empty label).
fn mention_at(s: &str) -> Option<(usize, Mention)> {
    let body = s.strip_prefix('@')?;
    let user_len = body
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        .count();
    let user = &body[..user_len];
    if !user
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let host_part = body[user_len..].strip_prefix('@')?;
    let host_len: usize = host_part
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '.' || *c == '-')
        .map(char::len_utf8)
        .sum();
    // A sentence may end right after the host: "thanks @ann@example.social."
    let host = host_part[..host_len].trim_end_matches(['.', '-']);
    let labels: Vec<&str> = host.split('.').collect();
    let tld_ok = labels
        .last()
        .is_some_and(|l| l.chars().any(char::is_alphabetic));
    let ipv4 = host.parse::<std::net::Ipv4Addr>().is_ok();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        || !(tld_ok || ipv4)
    {
        return None;
    }
    // A port belongs to the host only right after it (`@ann@10.0.0.5:3000`): development and
    // test servers run on one, and their WebFinger answers `acct:ann@10.0.0.5:3000`.
    let port = (host.len() == host_len)
        .then(|| host_part[host_len..].strip_prefix(':'))
        .flatten()
        .map(|rest| {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            (
                &rest[..digits],
                rest[digits..].starts_with(|c: char| c.is_alphanumeric()),
            )
        })
        .filter(|(digits, glued)| !glued && digits.parse::<u16>().is_ok_and(|p| p > 0))
        .map(|(digits, _)| digits);
    let len = 1 + user_len + 1 + host.len() + port.map_or(0, |p| 1 + p.len());
    let host = match port {
        Some(port) => format!("{}:{port}", host.to_lowercase()),
        None => host.to_lowercase(),
    };
    Some((
        len,
        Mention {
            user: user.to_string(),
            host,
        },
    ))
}

/// A bare `http(s)://` URL at the start of `s`, as Hugo's linkify would see it: up to
/// whitespace, without trailing punctuation or an unbalanced closing parenthesis.
fn bare_url_at(s: &str) -> Option<(usize, Url)> {
    let b = s.as_bytes();
    let prefixed = |p: &[u8]| b.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    if !prefixed(b"http://") && !prefixed(b"https://") {
        return None;
    }
    let mut end: usize = s
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '<' | '>' | '"' | '`'))
        .map(char::len_utf8)
        .sum();
    loop {
        let candidate = &s[..end];
        let last = candidate.chars().last()?;
        let unbalanced_paren =
            last == ')' && candidate.matches('(').count() < candidate.matches(')').count();
        if ".,:;!?'*_".contains(last) || unbalanced_paren {
            end -= last.len_utf8();
        } else {
            break;
        }
    }
    let url = Url::parse(&s[..end]).ok()?;
    url.host_str()?;
    Some((end, url))
}

/// The hashtag a front matter tag becomes: letters, digits and `_` only, words run together
/// (`Open Source` -> `OpenSource`); `None` when nothing of it can be a hashtag.
pub(super) fn hashtag_name(tag: &str) -> Option<String> {
    let name: String = tag
        .trim()
        .trim_start_matches('#')
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && !name.chars().all(char::is_numeric)).then_some(name)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::test_support::{html, rendered};

    fn mention(user: &str, host: &str) -> Mention {
        Mention {
            user: user.into(),
            host: host.into(),
        }
    }

    #[test]
    fn can_link_hashtags() {
        let r = rendered("Vote on #Budget2027 and #café, #budget2027 again.\n");
        assert_eq!(
            r.html,
            "<p>Vote on <a href=\"https://social.city.example/tags/budget2027\" class=\"mention hashtag\" rel=\"tag\">#<span>Budget2027</span></a> \
             and <a href=\"https://social.city.example/tags/caf%C3%A9\" class=\"mention hashtag\" rel=\"tag\">#<span>café</span></a>, \
             <a href=\"https://social.city.example/tags/budget2027\" class=\"mention hashtag\" rel=\"tag\">#<span>budget2027</span></a> again.</p>"
        );
        assert_eq!(r.tags, vec!["Budget2027", "café"]);
    }

    #[test]
    fn rejects_hashtags_in_code_links_words_and_numbers() {
        let r = rendered(
            "`#code` and\n\n```\n#block\n```\n\n[#linked](https://x.example) issue#12 #42 C#sharp #\n",
        );
        assert!(r.tags.is_empty(), "{:?}", r.tags);
        assert!(!r.html.contains("hashtag"), "{}", r.html);
    }

    #[test]
    fn can_find_hashtags_in_headings_lists_and_after_punctuation() {
        let r = rendered("## News #city\n\n- (#rust)\n- **#bold**\n");
        assert_eq!(r.tags, vec!["city", "rust", "bold"]);
    }

    #[test]
    fn can_render_mentions() {
        let r = rendered(
            "Thanks @ann@mastodon.example. And @Ann@Mastodon.Example again, not me@mail.example.\n",
        );
        assert_eq!(
            r.html,
            "<p>Thanks <span class=\"h-card\"><a href=\"https://mastodon.example/@ann\" class=\"u-url mention\">@<span>ann</span></a></span>. \
             And <span class=\"h-card\"><a href=\"https://mastodon.example/@Ann\" class=\"u-url mention\">@<span>Ann</span></a></span> again, not me@mail.example.</p>"
        );
        assert_eq!(r.mentions, vec![mention("ann", "mastodon.example")]);
    }

    #[test]
    fn can_render_mentions_of_a_host_with_a_port() {
        let r = rendered("Hi @peer@127.0.0.1:8080, and @ann@dev.example:3000.\n");
        assert_eq!(
            r.mentions,
            vec![
                mention("peer", "127.0.0.1:8080"),
                mention("ann", "dev.example:3000")
            ]
        );
        assert!(
            r.html.contains("@<span>peer</span></a></span>, and"),
            "{}",
            r.html
        );
        // Not a port: the mention ends at the host.
        let r = rendered("ask @ann@mastodon.example: why? or @bob@b.example:80x\n");
        assert_eq!(r.mentions[0].host, "mastodon.example");
        assert_eq!(r.mentions[1].host, "b.example");
    }

    #[test]
    fn rejects_mentions_without_a_domain_or_in_code() {
        let r = rendered("@ann alone, @ann@localhost, `@a@b.example`\n");
        assert!(r.mentions.is_empty(), "{:?}", r.mentions);
    }

    #[test]
    fn can_link_bare_urls() {
        assert_eq!(
            html("See https://city.example/budget_(2027). Done\n"),
            "<p>See <a href=\"https://city.example/budget_(2027)\" rel=\"nofollow noopener\">https://city.example/budget_(2027)</a>. Done</p>"
        );
    }

    #[test]
    fn can_name_hashtags_from_front_matter_tags() {
        assert_eq!(hashtag_name("#Open Source").as_deref(), Some("OpenSource"));
        assert_eq!(hashtag_name("2026"), None);
        assert_eq!(hashtag_name("++"), None);
    }
}
